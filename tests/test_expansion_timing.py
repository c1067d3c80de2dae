"""When each node was expanded is a fact of its tree: a strategy's name changes nothing in its traces, and the
audit checks an "exhausted" reason against what the search had expanded by then."""

from __future__ import annotations

import pytest
from conftest import NOISY_POLICY, NOISY_PRM, run_search

from metacot.linearize import LinearizeConfig, linearize_tree
from metacot.linearize.audit import audit_record
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems.countdown import CountdownDomain, generate_problems
from metacot.search import SEARCHES, AStarConfig, BeamConfig, BestOfNConfig, BFSConfig, Budget, DFSConfig, MCTSConfig
from metacot.tree import SearchTree

DOMAIN = CountdownDomain()
EVERY_RECORD = LinearizeConfig(include_unsolved=True, value_lines=True)
# No early stop, so the searches go on after solutions and leave many branches behind.
CONFIGS = {
    "mcts": MCTSConfig(simulations=64, expand_width=4, stop_at_first_solution=False),
    "astar": AStarConfig(budget=Budget(nodes=120), expand_width=4, stop_at_first_solution=False),
    "beam": BeamConfig(beam_width=3, expand_width=3, stop_at_first_solution=False),
    "best_of_n": BestOfNConfig(n=6),
    "bfs": BFSConfig(budget=Budget(nodes=80), expand_width=4, stop_at_first_solution=False),
    "dfs": DFSConfig(budget=Budget(nodes=80), expand_width=4, stop_at_first_solution=False),
}
PROBLEMS = generate_problems(60, 0)


def noisy_trees(name: str, config) -> list[SearchTree]:
    policy, prm = SymbolicCountdownPolicy(NOISY_POLICY), CountdownOraclePRM(NOISY_PRM)
    return run_search(PROBLEMS, name, config, policy, prm)[0]


def records(trees: list[SearchTree]) -> list[dict]:
    return [record for tree in trees for record in linearize_tree(tree, DOMAIN, EVERY_RECORD).values()]


def saved(tree: SearchTree, search: str) -> dict:
    """The tree's record under the strategy name given, less its wall time."""
    record = tree.to_dict()
    return record | {"search": search, "compute": {**record["compute"], "wall_time": 0.0}}


def test_every_strategy_is_covered():
    assert set(CONFIGS) == set(SEARCHES)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_strategy_registered_under_a_new_name_writes_the_same_traces(monkeypatch, name):
    # registered as a user registers a strategy: a search function and its config class under a name of its own
    monkeypatch.setitem(SEARCHES, f"{name}2", SEARCHES[name])
    original = noisy_trees(name, CONFIGS[name])
    renamed = noisy_trees(f"{name}2", CONFIGS[name])
    assert {tree.search for tree in renamed} == {f"{name}2"}
    assert [saved(t, name) for t in renamed] == [saved(t, name) for t in original]
    assert [r | {"search": name} for r in records(renamed)] == records(original)


def test_every_expansion_is_dated_by_the_runner_before_any_of_its_children_is_visited():
    for name, config in CONFIGS.items():
        for tree in noisy_trees(name, config):
            first: dict[int, int] = {}
            for i, node_id in enumerate(tree.trace):
                first.setdefault(node_id, i)
            for node in tree.nodes:
                assert (node.expanded_at is not None) == node.expanded, name
                if node.expanded_at is not None:
                    assert 0 <= node.expanded_at <= len(tree.trace)
                    assert all(first.get(child, len(tree.trace)) >= node.expanded_at for child in node.children)


def test_expansion_times_are_saved_and_an_older_tree_gets_the_latest_its_visits_prove():
    tree = noisy_trees("astar", CONFIGS["astar"])[0]
    saved = tree.to_dict()
    assert SearchTree.from_dict(saved).to_dict() == saved
    older = {**saved, "nodes": [{k: v for k, v in n.items() if k != "expanded_at"} for n in saved["nodes"]]}
    dated = SearchTree.from_dict(older)
    pairs = [(was.expanded_at, now.expanded_at) for was, now in zip(tree.nodes, dated.nodes, strict=True)]
    assert all((was is None) == (now is None) for was, now in pairs)
    assert all(now >= was for was, now in pairs if was is not None)  # never earlier than the truth
    assert any(now == was for was, now in pairs if was is not None)


def test_an_exhausted_reason_for_an_expansion_the_search_made_later_fails_the_audit():
    # The record is written from the true tree; the audit is handed a tree that dates one expansion after the whole
    # trace: every "exhausted" sentence resting on that expansion claims what the search could not know yet.
    caught = 0
    for tree in noisy_trees("dfs", CONFIGS["dfs"])[:20]:
        record = linearize_tree(tree, DOMAIN, EVERY_RECORD)["metacot"]
        assert audit_record(record, tree, DOMAIN).failures == []
        for node in tree.nodes[1:]:
            if node.expanded and not node.dead and node.children:
                later = SearchTree.from_dict(tree.to_dict())
                later.nodes[node.id].expanded_at = len(tree.trace)
                failures = [f.message for f in audit_record(record, later, DOMAIN).failures]
                caught += any("says the branch is exhausted, but it has live steps" in m for m in failures)
    assert caught >= 100, caught
