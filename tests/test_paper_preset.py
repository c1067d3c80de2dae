"""The metacot-paper preset and the paper trace format: settings layered under the user's, value lines that are
the nodes' Monte Carlo counts, "Alternatively" only where the trace switches branch, a verified Solution block."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from metacot.cli import build_parser as make_parser
from metacot.cli import main, synth_config
from metacot.config import ConfigError, load_config
from metacot.linearize.audit import audit_record
from metacot.outputs.rundir import RunDir
from metacot.problems.countdown import CountdownDomain
from metacot.tree import SearchTree

K = 8


def run(out: Path, *flags: str) -> tuple[list[dict], dict[str, SearchTree]]:
    assert main(["synth", "--preset", "metacot-paper", "--out", str(out), "--no-progress", *flags]) == 0
    records = [orjson.loads(line) for line in (out / "traces" / "paper.jsonl").read_bytes().splitlines()]
    return records, {t.problem_id: t for t in RunDir(out).iter_trees()}


@pytest.fixture(scope="module", params=["astar", "mcts"])
def paper_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    flags = ["--num-problems", "8", "--seed", "1", "--rollouts", str(K), "--search", request.param]
    return run(out, *flags)


def test_the_preset_comes_first_and_the_user_overrides_it(tmp_path):
    config = load_config(None, "metacot-paper")
    assert config.preset == "metacot-paper" and config.prm.backend == "rollout" and config.prm.rollout.reuse
    assert config.search.strategy == "astar" and config.search.astar.step_cost == 0.0
    assert config.search.mcts.selection == "uct" and config.search.mcts.q_init == "value"
    assert config.linearize.formats == ["paper"]
    toml = tmp_path / "run.toml"
    toml.write_text('preset = "metacot-paper"\n[prm.rollout]\nrollouts = 128\n')
    assert load_config(toml).prm.rollout.rollouts == 128 and load_config(toml).prm.backend == "rollout"
    flags = ["--preset", "metacot-paper", "--search", "mcts", "--rollouts", "4", "--set", "prm.rollout.reuse=false"]
    args = make_parser().parse_args(["synth", *flags])
    config = synth_config(args)
    assert config.search.strategy == "mcts" and config.prm.rollout.rollouts == 4 and not config.prm.rollout.reuse
    with pytest.raises(ConfigError, match="--preset: unknown preset 'nope'"):
        load_config(None, "nope")


def node_of(tree: SearchTree, line: str, current: int, written: set[int]) -> int:
    """The tree node a step line of the trace is (found here independently of the renderer and the audit)."""
    switched = line.startswith("Alternatively, ")
    text = line.removeprefix("Alternatively, ")
    domain = CountdownDomain()
    problem = domain.problem_from_dict(tree.problem)
    found = [
        n.id
        for n in tree.nodes
        if n.id not in written
        and (n.parent != current if switched else n.parent == current or n.id == tree.nodes[current].repair)
        and n.parent in written
        and text.startswith(n.step + ".")
        and (n.state is None or n.terminal or domain.describe_state(problem, n.state) in text)
    ]
    assert found, f"no node for {line!r}"
    return found[0]


def test_every_value_line_is_its_nodes_successes_over_rollouts(paper_run):
    records, trees = paper_run
    assert records and any(r["num_backtracks"] for r in records)
    counted = 0
    for record in records:
        tree = trees[record["problem_id"]]
        body = re.fullmatch(r"<think>\n(.*)\n</think>\n<answer> (.*) </answer>", record["completion"], re.S)
        assert body is not None
        lines = body[1].split("\n")
        trace, solution = lines[: lines.index("Solution:")], lines[lines.index("Solution:") + 1 :]
        current, written, last = 0, {0}, None
        for line in trace[:-1]:
            if line.startswith("Value: "):
                node = tree.nodes[last]
                if node.rollouts is not None:
                    assert line == f"Value: {node.successes}/{node.rollouts}" and node.rollouts == K
                    counted += 1
                else:  # a verified step: its value is known without rollouts
                    assert node.terminal or node.error is not None
                continue
            last = node_of(tree, line, current, written)
            written.add(last)
            current = last
        assert trace[-1] == f"Final Answer: {record['answer']}"
        end = tree.nodes[current]
        assert end.correct and tree.steps_to(end.id) == solution  # the Solution block: the path to the solution
    assert counted > 10


def test_the_audit_passes_the_records_and_catches_false_claims(paper_run):
    records, trees = paper_run
    domain = CountdownDomain()
    for record in records:
        assert audit_record(record, trees[record["problem_id"]], domain).failures == []
    # a step that continues the one before (not the correction of a wrong step, which comes from the state before it)
    plain_step = r"(\. Now I have \[[^\n]*\]\.\nValue: [^\n]*\n)(\d+ [-+*/] \d+ = \d+\. (Now|\d+ = ))"
    record = next(r for r in records if r["num_backtracks"] and re.search(plain_step, r["completion"]))
    tree = trees[record["problem_id"]]
    value = re.search(r"Value: (\d+)/(\d+)", record["completion"])
    assert value is not None
    wrong = f"Value: {int(value[1]) + 1}/{value[2]}"
    lies = {
        "value": record["completion"].replace(value[0], wrong, 1),
        "alternatively": record["completion"].replace("\nAlternatively, ", "\n", 1),
        "continuation": re.sub(plain_step, r"\1Alternatively, \2", record["completion"], count=1),
        "solution": record["completion"].replace("Solution:\n", "Solution:\n1 + 1 = 2\n", 1),
    }
    for what, completion in lies.items():
        assert completion != record["completion"], what
        failures = audit_record({**record, "completion": completion}, tree, domain).failures
        assert failures, what


def test_a_preset_that_is_not_a_name_is_a_config_error_naming_the_file(tmp_path):
    from metacot.config import ConfigError, load_config

    path = tmp_path / "run.toml"
    path.write_text("preset = []\n")
    with pytest.raises(ConfigError, match=r"run.toml: preset: unknown preset \[\]"):
        load_config(path)
