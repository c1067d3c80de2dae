"""Search configs: one node knob (budget.nodes), every setting checked when the config is built, one registry."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import metacot.search as search_package
from metacot.cli import build_parser, main, synth_config
from metacot.config import ConfigError, from_dict, load_config
from metacot.flags import flag
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems.countdown import CountdownDomain, generate_problems
from metacot.search import (
    SEARCHES,
    AStarConfig,
    BeamConfig,
    BestOfNConfig,
    BFSConfig,
    Budget,
    ComputeTarget,
    DFSConfig,
    Expand,
    MCTSConfig,
    Runner,
    Score,
    SearchConfig,
    StrategyConfig,
    make_search,
    strategies_with,
)
from metacot.search.protocol import SearchGen, goal_test
from metacot.tree import SearchTree

SEARCH_DIR = Path(search_package.__file__).parent


def test_limits_live_in_the_budget():
    for cls in (BFSConfig, DFSConfig):
        assert cls().budget == Budget(nodes=200)
    assert AStarConfig().budget == Budget(policy_calls=300)  # as many expansions as MCTS's simulations
    for cls in (MCTSConfig, BeamConfig, BestOfNConfig):
        assert cls().budget == Budget()
    for cls, _ in SEARCHES.values():
        assert "max_nodes" not in {f.name for f in dataclasses.fields(cls)}
    assert AStarConfig().budget is not AStarConfig().budget  # each config owns its budget


@pytest.mark.parametrize("name", list(SEARCHES))
def test_an_old_max_nodes_key_says_where_it_went(tmp_path, name):
    path = tmp_path / "run.toml"
    path.write_text(f"[search.{name}]\nmax_nodes = 30\n")
    with pytest.raises(ConfigError, match=rf"search\.{name}\.max_nodes: .*it is now .*search\.{name}\.budget\.nodes"):
        load_config(path)


BAD_VALUES = [
    ("mcts", "simulations = -1", "search.mcts.simulations"),
    ("mcts", "expand_width = 0", "search.mcts.expand_width"),
    ("mcts", "c_puct = -0.5", "search.mcts.c_puct"),
    ("astar", 'heuristic = "manhattan"', "search.astar.heuristic: unknown heuristic 'manhattan'"),
    ("astar", "step_cost = -0.1", "search.astar.step_cost"),
    ("astar", "expand_width = 0", "search.astar.expand_width"),
    ("beam", "beam_width = 0", "search.beam.beam_width"),
    ("beam", "expand_width = 0", "search.beam.expand_width"),
    ("best_of_n", 'selection = "mode"', "search.best_of_n.selection: unknown selection 'mode'"),
    ("best_of_n", "n = 0", "search.best_of_n.n"),
    ("bfs", 'heuristic = "sum"', "search.bfs.heuristic: unknown heuristic 'sum'"),
    ("dfs", "expand_width = 0", "search.dfs.expand_width"),
    ("dfs.budget", "nodes = -1", "search.dfs.budget.nodes: must be a non-negative integer"),
    ("astar.budget", "generated_tokens = 100", "search.astar.budget.generated_tokens: needs max_step_tokens"),
]


@pytest.mark.parametrize(("section", "line", "message"), BAD_VALUES)
def test_a_bad_value_is_a_config_error_naming_its_key(tmp_path, section, line, message):
    path = tmp_path / "run.toml"
    path.write_text(f"[search.{section}]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: {message}" in str(info.value)


def test_bad_settings_fail_before_the_run_directory_is_touched(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('[search]\nstrategy = "astar"\n[search.astar]\nheuristic = "manhattan"\n')
    out = tmp_path / "run"
    assert main(["synth", "--config", str(config), "--out", str(out), "--no-progress"]) == 2
    assert "search.astar.heuristic: unknown heuristic 'manhattan'" in capsys.readouterr().err
    assert main(["synth", "--search", "bfs", "--max-nodes", "-1", "--out", str(out), "--no-progress"]) == 2
    assert "search.bfs.budget.nodes: must be a non-negative integer" in capsys.readouterr().err
    assert not out.exists()


def test_max_nodes_and_expand_width_flags_set_every_strategy():
    args = build_parser().parse_args(["synth", "--max-nodes", "7", "--expand-width", "3", "--simulations", "5"])
    config = synth_config(args)
    for name in SEARCHES:
        section = getattr(config.search, name)
        assert section.budget.nodes == 7
        assert getattr(section, "expand_width", 3) == 3
    assert config.search.mcts.simulations == 5
    assert {"mcts", "astar", "beam", "bfs", "dfs"} <= set(strategies_with("expand_width"))
    assert "best_of_n" not in strategies_with("expand_width")


def test_changing_a_setting_after_building_is_checked_when_the_search_is_made():
    config = BestOfNConfig()
    config.n = 0
    with pytest.raises(ValueError, match="search.best_of_n.n: must be an integer of at least 1"):
        search_package.make_search("best_of_n", config)


def test_search_config_has_one_section_per_registered_strategy():
    sections = {f.name: f.type for f in dataclasses.fields(SearchConfig) if f.name != "strategy"}
    assert list(sections) == list(SEARCHES)
    for name, (cls, search) in SEARCHES.items():
        assert issubclass(cls, StrategyConfig) and callable(search)
        assert type(getattr(SearchConfig(), name)) is cls


def test_strategies_import_only_the_protocol_the_budget_the_tree_and_flags():
    allowed = {"metacot.search.protocol", "metacot.search.budget", "metacot.tree", "metacot.flags"}
    for module in {search.__module__ for _, search in SEARCHES.values()}:
        tree = ast.parse((SEARCH_DIR / f"{module.rsplit('.', 1)[1]}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert {m for m in imported if m.startswith("metacot")} <= allowed, module


def test_matched_configs_take_the_budget_and_keep_fixed_settings():
    target = ComputeTarget("nodes", 50, depth=3, step_tokens=5)
    assert AStarConfig().matched(target).budget == Budget(nodes=50, max_step_tokens=5, rollouts=None)  # its only limit
    assert MCTSConfig().matched(target).simulations == 20 * 50 + 100
    assert (
        MCTSConfig(simulations=9).matched(dataclasses.replace(target, fixed=frozenset({"simulations"}))).simulations
        == 9
    )
    assert BestOfNConfig().matched(target).n == 16  # 1 + 16 * 3 <= 50
    assert BestOfNConfig().matched(dataclasses.replace(target, fit=False)).n == 8
    # a PRM-call budget does not bound best-of-N's N under majority vote (one Score at most): keep the default
    assert BestOfNConfig().matched(ComputeTarget("prm_calls", 1, depth=3, step_tokens=5)).n == 8
    assert MCTSConfig().answer_correct(SearchTree.with_root("p", {}, None)) is None  # only best-of-N picks one
    assert BeamConfig().matched(ComputeTarget("nodes", 100, depth=3, step_tokens=5)).beam_width == 6


# --- "Extending metacot": a strategy is its module and one registry entry ----------------------------------


@dataclasses.dataclass
class GreedyConfig(StrategyConfig):
    expand_width: int = flag("children proposed per expansion", 4)


def greedy(tree: SearchTree, config: GreedyConfig) -> SearchGen:
    node = tree.root
    tree.visit(node)
    while not node.terminal and (n := config.budget.room(tree.compute, config.expand_width)):
        children = yield Expand(node, n)
        if not children:
            return
        yield Score(children)
        if goal_test(tree, children, stop=True):  # a verified-correct child: visited, and the search ends
            return
        node = max(children, key=lambda c: c.score or 0.0)
        tree.visit(node)


def test_the_readme_strategy_runs_from_its_registry_entry(monkeypatch):
    monkeypatch.setitem(SEARCHES, "greedy", (GreedyConfig, greedy))
    assert "greedy" in strategies_with("expand_width")
    config = from_dict(GreedyConfig, {"expand_width": 3, "budget": {"nodes": 30}}, "search.greedy")
    problems = generate_problems(20, 0)
    runner = Runner(
        CountdownDomain(), SymbolicCountdownPolicy(), CountdownOraclePRM(), make_search("greedy", config), "greedy"
    )
    trees = list(runner.run(problems))
    assert all(len(t.nodes) <= 30 and config.budget.within(t.compute) for t in trees)
    assert sum(t.solved for t in trees) > 0
