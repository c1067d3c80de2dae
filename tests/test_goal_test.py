"""The goal test at generation: a verified-correct child ends a search (stop_at_first_solution) where the expansion
that creates it is, in every strategy, and no linearized trace walks away from a solution the search holds."""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction

import pytest
from conftest import NOISY_POLICY, NOISY_PRM, ScriptedPolicy, TablePRM, ToyDomain, run_search, toy_problems

from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.walk import trace_to_solution
from metacot.policy.config import SymbolicPolicyConfig
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems import CountdownDomain
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


def test_beam_visits_a_level_where_it_expands_it_and_ends_at_the_first_node_with_a_solution():
    # both beam nodes get a winning child in the same round: the trace takes up a (the better) and ends at its
    # solution; b, expanded in the same round, is never visited, so the trace leaves no node that holds a solution
    policy = ScriptedPolicy({"": ["a", "b"], "a": ["goal-a", "a1"], "b": ["b1", "goal-b"]})
    prm = TablePRM({"a": 0.9, "b": 0.8, "goal-a": 0.1, "goal-b": 0.1, "a1": 0.9, "b1": 0.9})
    trees, _ = run_search(toy_problems(), "beam", BeamConfig(beam_width=2), policy, prm, ToyDomain())
    assert steps(trees[0]) == ["", "a", "goal-a"]


def test_beam_never_visits_a_node_it_does_not_expand():
    # the budget expands the root and a alone at level 2: b, kept in the beam, is never taken up, so never visited
    policy = ScriptedPolicy({"": ["a", "b"], "a": ["a1"], "b": ["b1"], "a/a1": ["a2"]})
    prm = TablePRM({"a": 0.9, "b": 0.8, "a1": 0.5})
    config = BeamConfig(beam_width=2, expand_width=2, budget=Budget(policy_calls=2))
    trees, _ = run_search(toy_problems(), "beam", config, policy, prm, ToyDomain())
    assert steps(trees[0]) == ["", "a"]
    assert all(trees[0].nodes[i].expanded for i in trees[0].trace)


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
    """The linearized trace (up to its first solution) ends at a solution right after its parent's visit, and after
    the first solution was created it visits only the nodes expanded by then (beam: the rest of that round's nodes,
    up to the solution's parent): no node it left holds one of the solutions found then."""
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
        first = min(created[(tree.problem_id, node.id)] for node in tree.solutions())
        assert tree.nodes[solution].parent == trace[-2], tree.problem_id
        for node_id in trace[first:-1]:
            assert tree.expanded_by(node_id, first), tree.problem_id
        found = [node for node in tree.solutions() if created[(tree.problem_id, node.id)] == first]
        assert not {node.parent for node in found} & set(trace[:-2]), tree.problem_id


STATE = re.compile(r"Now I have \[([^\]]*)\]")
BACK = re.compile(r"(?:back to|return to|pick up again from) \[([^\]]*)\]")


def numbers(text: str) -> tuple[Fraction, ...]:
    return tuple(sorted(Fraction(x) for x in text.split(",")))


def one_move_wins(state: tuple[Fraction, ...], target: int) -> bool:
    """Two numbers that one operation makes the target: a reader checks every combination of the last two."""
    if len(state) != 2:
        return False
    a, b = state
    return target in {a + b, a - b, b - a, a * b, *(x / y for x, y in ((a, b), (b, a)) if y)}


@pytest.mark.parametrize("search", sorted(CONFIGS))
def test_no_text_leaves_two_numbers_that_make_the_target_in_one_step(search):
    """Read as a reader does, by the numbers the text says it has: a backtrack never leaves a state one operation
    from the target (with slips noticed at once, every state the text has is reached by right steps)."""
    policy, prm = SymbolicCountdownPolicy(SymbolicPolicyConfig(mistake_rate=0.3)), CountdownOraclePRM(NOISY_PRM)
    problems = generate_problems(40, seed=11)
    trees, _ = run_search(problems, search, CONFIGS[search], policy, prm)
    domain = CountdownDomain()
    left = []
    for problem, tree in zip(problems, trees, strict=True):
        record = linearize(tree, domain, "metacot", LinearizeConfig(include_unsolved=True))
        here: tuple[Fraction, ...] = ()
        for line in record["completion"].splitlines():
            if (back := BACK.search(line)) and numbers(back[1]) != here:
                left += [f"{tree.problem_id}: {line}"] if one_move_wins(here, problem.target) else []
                here = numbers(back[1])
            elif now := STATE.search(line):
                here = numbers(now[1])
    assert left == []
