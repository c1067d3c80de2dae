"""The goal test at generation: a verified-correct child ends a search (stop_at_first_solution) where the expansion
that creates it is, in every strategy, and no linearized trace walks away from a solution the search holds."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import NOISY_POLICY, NOISY_PRM, ScriptedPolicy, TablePRM, ToyDomain, run_search, toy_problems

from metacot.linearize.walk import trace_to_solution
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems.countdown import generate_problems
from metacot.search import AStarConfig, BeamConfig, BFSConfig, Budget, DFSConfig, MCTSConfig
from metacot.tree import SearchTree


def steps(tree: SearchTree) -> list[str]:
    return [tree.nodes[i].step for i in tree.trace]


def test_astar_stops_at_a_generated_solution_while_a_shallower_node_has_a_better_f():
    # a 0/1 oracle's view: every node scores 1, so f = 0.1 * depth and q (depth 1) would be popped before goal
    # (depth 2); the search ends where p's expansion creates goal instead
    policy = ScriptedPolicy({"": ["p", "q"], "p": ["goal", "r"], "q": ["s"]})
    trees, _ = run_search(toy_problems(), "astar", AStarConfig(), policy, TablePRM(default=1.0), ToyDomain())
    assert steps(trees[0]) == ["", "p", "goal"]
    assert [trees[0].nodes[i].step for _, i, _ in policy.requests] == ["", "p"]


def test_astar_stops_at_a_generated_solution_that_scores_worse_than_its_sibling():
    policy = ScriptedPolicy({"": ["goal", "x"], "x": ["y"]})
    prm = TablePRM({"goal": 0.5, "x": 0.9, "y": 0.8})
    trees, _ = run_search(toy_problems(), "astar", AStarConfig(step_cost=0.0), policy, prm, ToyDomain())
    assert steps(trees[0]) == ["", "goal"]


def test_astar_without_stop_visits_a_solution_when_created_and_goes_on():
    policy = ScriptedPolicy({"": ["goal", "x"], "x": ["y"]})
    prm = TablePRM({"goal": 0.5, "x": 0.9, "y": 0.8})
    config = AStarConfig(step_cost=0.0, stop_at_first_solution=False, widening=False)
    trees, _ = run_search(toy_problems(), "astar", config, policy, prm, ToyDomain())
    assert steps(trees[0]) == ["", "goal", "x", "y"]  # the solution once: it is not queued again


def test_beam_stops_at_the_solution_of_the_node_the_trace_stands_at():
    # both beam nodes get a winning child in the same round; the trace stands at b (visited last): it ends at b's,
    # not walking away from b to a's
    policy = ScriptedPolicy({"": ["a", "b"], "a": ["goal-a", "a1"], "b": ["b1", "goal-b"]})
    prm = TablePRM({"a": 0.9, "b": 0.8, "goal-a": 0.1, "goal-b": 0.1, "a1": 0.9, "b1": 0.9})
    trees, _ = run_search(toy_problems(), "beam", BeamConfig(beam_width=2), policy, prm, ToyDomain())
    assert steps(trees[0]) == ["", "a", "b", "goal-b"]


def test_beam_stops_at_a_generated_solution_that_scores_worse_than_its_siblings():
    policy = ScriptedPolicy({"": ["a", "goal"], "a": ["a1"]})
    prm = TablePRM({"a": 0.9, "goal": 0.1})
    trees, _ = run_search(toy_problems(), "beam", BeamConfig(beam_width=2), policy, prm, ToyDomain())
    assert steps(trees[0]) == ["", "goal"]
    assert len(policy.requests) == 1


CONFIGS = {
    "astar": AStarConfig(budget=Budget(nodes=150), expand_width=5),
    "beam": BeamConfig(beam_width=8, expand_width=8),
    "mcts": MCTSConfig(simulations=60, expand_width=4),
    "bfs": BFSConfig(budget=Budget(nodes=80), expand_width=4),
    "dfs": DFSConfig(budget=Budget(nodes=80), expand_width=4),
}


@pytest.mark.parametrize("stop", [True, False])
@pytest.mark.parametrize("search", sorted(CONFIGS))
def test_no_linearized_trace_walks_away_from_a_created_solution(search, stop, monkeypatch):
    """The linearized trace (up to its first solution) ends at the visit right after the first solution was
    created, at a child of the node it stands at when that node has one: it never leaves a node, or the node it
    stands at, for another while a solution is in the tree."""
    created: dict[tuple[str, int], int] = {}  # (problem, node) -> visits made before the node was created
    add_child = SearchTree.add_child

    def recording(tree, parent, step, **attrs):
        node = add_child(tree, parent, step, **attrs)
        created[(tree.problem_id, node.id)] = len(tree.trace)
        return node

    monkeypatch.setattr(SearchTree, "add_child", recording)
    config = dataclasses.replace(CONFIGS[search], stop_at_first_solution=stop)
    policy, prm = SymbolicCountdownPolicy(NOISY_POLICY), CountdownOraclePRM(NOISY_PRM)
    trees, _ = run_search(generate_problems(40, seed=7), search, config, policy, prm)
    solved = [tree for tree in trees if tree.solved]
    assert len(solved) >= 5
    for tree in solved:
        trace, solution = trace_to_solution(tree, stop_at_first_solution=True)
        solutions = [node for node in tree.nodes if node.correct]
        first = min(created[(tree.problem_id, node.id)] for node in solutions)
        assert len(trace) == first + 1, tree.problem_id
        here = trace[-2]
        if any(node.parent == here for node in solutions if created[(tree.problem_id, node.id)] == first):
            assert tree.nodes[solution].parent == here
