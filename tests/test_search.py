"""Search: MCTS and A* invariants on real Countdown runs, exact behaviour with scripted backends, the runner,
and the search tree itself."""

from __future__ import annotations

import dataclasses
import math
import random
import re
import time
from collections import Counter

import networkx as nx
import orjson
import pytest
from conftest import (
    CountingPolicy,
    CountingPRM,
    LogprobPolicy,
    ScriptedPolicy,
    TablePRM,
    ToyDomain,
    key,
    noisy_run,
    run_search,
    stable_unit,
    toy_problems,
)

from metacot.policy.base import Proposal
from metacot.policy.symbolic import SymbolicCountdownPolicy, SymbolicPolicyConfig
from metacot.prm.oracle import CountdownOraclePRM, OracleConfig
from metacot.problems.countdown import (
    CountdownDomain,
    StepError,
    apply_step,
    generate_problems,
    solution_expression,
    verify_answer,
)
from metacot.search import AStarConfig, Budget, MCTSConfig, Runner, make_search
from metacot.search.astar import heuristic
from metacot.search.budget import spent
from metacot.search.expand import TRUNCATED
from metacot.search.mcts import exhausted, expansion_value, select
from metacot.tree import ROOT, SearchTree

DOMAIN = CountdownDomain()
EXACT = dict(policy=SymbolicPolicyConfig(), prm=OracleConfig())
NOISY = dict(policy=SymbolicPolicyConfig(mistake_rate=0.2), prm=OracleConfig(flip_prob=0.2))
STEP = re.compile(r"\d+ [-+*/] \d+ = \d+")


def real_run(search, config, problems, noise=EXACT, policy=None, concurrency=64, seed=0):
    policy = policy or SymbolicCountdownPolicy(noise["policy"])
    return run_search(
        problems, search, config, policy, CountdownOraclePRM(noise["prm"]), seed=seed, concurrency=concurrency
    )


# --- checks shared by both searches -----------------------------------------------------------------


def check_tree_structure(tree: SearchTree) -> None:
    nodes = tree.nodes
    assert nodes[ROOT].parent == -1 and nodes[ROOT].path == "0" and nodes[ROOT].depth == 0
    assert tree.compute.nodes == len(nodes)
    for i, node in enumerate(nodes):
        assert node.id == i
        for index, child_id in enumerate(node.children):
            child = nodes[child_id]
            assert child.parent == i
            assert child.depth == node.depth + 1
            assert child.path == f"{node.path}.{index}"
            assert child_id > i  # children are created after their parent
        if node.children:
            assert node.expanded
        if node.terminal:
            assert not node.expanded and not node.children


def check_solutions(tree: SearchTree, problem) -> None:
    """Every node marked correct really solves the problem: replay its steps independently."""
    for node in tree.nodes:
        if node.error is not None:
            assert node.terminal and node.correct is False and node.state is None
        if not node.correct:
            continue
        assert node.terminal
        state = tuple(problem.numbers)
        steps = tree.steps_to(node.id)
        for step in steps:
            state = apply_step(state, step)
        assert state == (problem.target,)
        assert verify_answer(problem, solution_expression(problem.numbers, steps))


def check_states(tree: SearchTree, problem) -> None:
    """Each legal node's state is its parent's state after its step; each dead node's step really is illegal."""
    for node in tree.nodes[1:]:
        parent_state = tuple(tree.nodes[node.parent].state)
        if node.error is not None:
            with pytest.raises(StepError):
                apply_step(parent_state, node.step)
        else:
            assert tuple(node.state) == apply_step(parent_state, node.step)
            assert node.terminal == (len(node.state) == 1)


# --- MCTS -------------------------------------------------------------------------------------------


def mcts_simulations(tree: SearchTree, config: MCTSConfig) -> list[int]:
    """The leaves of the simulations that backed up a value, in order, read off the trace.

    Every simulation visits its leaf; the goal test also visits each solution an expansion creates, right after
    its leaf (that first visit of a solution is no simulation's leaf; a search that stops at it ends there); a leaf
    that the node budget leaves no room to expand is not visited: the search stops there.
    """
    nodes, trace = tree.nodes, tree.trace
    if not trace:
        return []
    assert trace[0] == ROOT
    sims: list[int] = []
    seen: set[int] = set()
    for node_id in trace:
        if nodes[node_id].correct and node_id not in seen:
            assert nodes[node_id].parent == sims[-1]  # created by the expansion of the last leaf
        else:
            sims.append(node_id)
        seen.add(node_id)
    if config.stop_at_first_solution and tree.solved:
        assert nodes[trace[-1]].correct and trace[-1] not in sims
    else:
        assert nodes[sims[-1]].terminal or nodes[sims[-1]].expanded
    return sims


def terminal_reward(node, config: MCTSConfig) -> float:
    if node.terminal and config.verified_reward:
        return 1.0 if node.correct else 0.0
    return node.score or 0.0


def merged_transpositions(tree: SearchTree) -> set[int]:
    """The nodes MCTS merged into another (`transposes`): each a live position its holder, not merged itself, took up
    by other steps (visited, or a slip's corrected step, which takes its position when made); never visited or
    expanded."""
    nodes = tree.nodes
    merged = {n.id for n in nodes if n.transposes is not None}
    corrected = {n.repair for n in nodes}
    for node in map(nodes.__getitem__, merged):
        holder = nodes[node.transposes]
        assert not node.terminal and node.state is not None and holder.transposes is None
        assert holder.id in tree.trace or holder.id in corrected
        assert DOMAIN.state_key(node.state) == DOMAIN.state_key(holder.state) and holder.duplicates >= 1
        assert node.id not in tree.trace and not node.expanded
    return merged


def check_mcts_tree(tree: SearchTree, config: MCTSConfig) -> int:
    """The MCTS invariants; returns the number of simulations run."""
    nodes = tree.nodes
    sims = mcts_simulations(tree, config)
    merged = merged_transpositions(tree)
    assert len(sims) <= config.simulations
    if config.budget.nodes is not None:  # the nodes searched for: not the domain's corrections of slips
        assert spent(tree.compute, "nodes") <= config.budget.nodes
    out_of_room = config.budget.nodes is not None and spent(tree.compute, "nodes") == config.budget.nodes
    stopped_early = (config.stop_at_first_solution and tree.solved) or out_of_room or exhausted(tree, config, set())
    if not stopped_early:
        assert len(sims) == config.simulations

    # visits: one per simulation whose path passed through the node; values: what each simulation backed up
    visits = Counter()
    value_sums = Counter()
    leaf_counts = Counter(sims)
    seen = set()
    for leaf_id in sims:
        leaf = nodes[leaf_id]
        if leaf.terminal:
            value = terminal_reward(leaf, config)
        elif leaf_id not in seen:  # selected unexpanded: expanded now, the best child's value backs up
            assert leaf.expanded
            value = max((terminal_reward(nodes[c], config) for c in leaf.children), default=0.0)
        else:  # selected again: expanded before, and nothing could be proposed or every child was merged
            assert leaf.expanded and all(c in merged for c in leaf.children)
            value = leaf.score or 0.0 if leaf.children else 0.0
        seen.add(leaf_id)
        for node_id in tree.path_to(leaf_id):
            visits[node_id] += 1
            value_sums[node_id] += value

    assert nodes[ROOT].visits == len(sims)
    for node in nodes:
        assert node.visits == visits[node.id], node
        assert node.value_sum == pytest.approx(value_sums[node.id], abs=1e-9)
        child_visits = sum(nodes[c].visits for c in node.children)
        assert node.visits >= child_visits
        assert node.visits - child_visits == leaf_counts[node.id]
        if node.visits:
            assert 0.0 <= node.value_sum / node.visits <= 1.0
            assert 0.0 <= node.value <= 1.0
        else:
            assert node.value_sum == 0.0
        if node.score is not None:
            assert 0.0 <= node.score <= 1.0
        # priors: a distribution over each expanded node's children
        if node.children:
            priors = [nodes[c].prior for c in node.children]
            assert all(p is not None and 0.0 < p <= 1.0 for p in priors)
            assert sum(priors) == pytest.approx(1.0)
            logprobs = [nodes[c].logprob for c in node.children]
            if all(lp is not None for lp in logprobs):  # softmax: prior ratios follow the probabilities
                for p, lp in zip(priors, logprobs, strict=True):
                    assert p / priors[0] == pytest.approx(math.exp(lp - logprobs[0]))
            else:
                assert priors == pytest.approx([1.0 / len(priors)] * len(priors))

    # the expanded nodes are exactly the non-terminal simulation leaves; every child is scored
    assert {n.id for n in nodes if n.expanded} == {i for i in sims if not nodes[i].terminal}
    assert all(n.score is not None for n in nodes[1:])
    assert tree.compute.policy_calls == sum(n.expanded for n in nodes)
    return len(sims)


# without widening: each node is expanded once, when first selected (widening's invariants: tests/test_widening.py)
MCTS_CASES = {
    "exact": (MCTSConfig(simulations=48, expand_width=4, widening=False), EXACT, None),
    "noisy": (MCTSConfig(simulations=64, expand_width=3, c_puct=2.0, widening=False), NOISY, None),
    "budget": (MCTSConfig(simulations=200, budget=Budget(nodes=25), expand_width=4, widening=False), NOISY, None),
    "tight_budget": (MCTSConfig(simulations=50, budget=Budget(nodes=11), expand_width=3, widening=False), NOISY, None),
    "keep_going": (
        MCTSConfig(simulations=40, expand_width=4, stop_at_first_solution=False, widening=False),
        NOISY,
        None,
    ),
    "prm_terminal_values": (
        MCTSConfig(simulations=40, expand_width=5, verified_reward=False, stop_at_first_solution=False, widening=False),
        dict(policy=SymbolicPolicyConfig(mistake_rate=0.3), prm=OracleConfig(gaussian_std=0.3)),
        None,
    ),
    "logprobs": (MCTSConfig(simulations=32, expand_width=4, c_puct=0.5, widening=False), NOISY, LogprobPolicy),
}


@pytest.mark.parametrize("case", sorted(MCTS_CASES))
def test_mcts_invariants_on_real_runs(case):
    config, noise, policy_cls = MCTS_CASES[case]
    problems = generate_problems(40, seed=len(case))
    policy = policy_cls(noise["policy"]) if policy_cls else None
    trees, _ = real_run("mcts", config, problems, noise, policy=policy)
    assert [t.problem_id for t in trees] == [p.id for p in problems]
    sims = []
    for problem, tree in zip(problems, trees, strict=True):
        assert tree.search == "mcts"
        check_tree_structure(tree)
        check_states(tree, problem)
        check_solutions(tree, problem)
        sims.append(check_mcts_tree(tree, config))
        if config.stop_at_first_solution:
            correct_in_trace = [i for i in tree.trace if tree.nodes[i].correct]
            assert correct_in_trace == ([tree.trace[-1]] if tree.solved else [])
    # the runs are not degenerate: something was searched, some problems were solved
    assert sum(sims) > len(problems)
    if config.budget.nodes is None or config.budget.nodes > 20:
        assert any(t.solved for t in trees)
    if config.budget.nodes is not None:
        assert any(spent(t.compute, "nodes") == config.budget.nodes for t in trees)


def test_mcts_without_stop_keeps_searching_after_a_solution():
    problems = generate_problems(30, seed=5)
    stop = MCTSConfig(simulations=40, expand_width=4, widening=False)
    go_on = MCTSConfig(simulations=40, expand_width=4, stop_at_first_solution=False, widening=False)
    stopped, _ = real_run("mcts", stop, problems, NOISY)
    continued, _ = real_run("mcts", go_on, problems, NOISY)
    longer = 0
    for a, b in zip(stopped, continued, strict=True):
        # identical up to the first solution: the stopped tree's nodes are a prefix of the continued tree's
        assert len(a.nodes) <= len(b.nodes)
        for x, y in zip(a.nodes, b.nodes, strict=False):
            assert (x.parent, x.step, x.state, x.score) == (y.parent, y.step, y.state, y.score)
        assert b.nodes[ROOT].visits == go_on.simulations or exhausted(b, go_on, set())
        if a.solved:
            assert a.nodes[a.trace[-1]].correct
            assert a.nodes[ROOT].visits < go_on.simulations
            longer += len(b.trace) > len(a.trace)
    assert longer > 0


def test_mcts_stops_at_a_solution_child_immediately():
    policy = ScriptedPolicy({"": ["a", "goal", "b"]})
    trees, _ = run_search(toy_problems(), "mcts", MCTSConfig(simulations=10), policy, TablePRM(), ToyDomain())
    tree = trees[0]
    assert tree.trace == [ROOT, 2]
    assert tree.nodes[2].correct
    assert tree.nodes[ROOT].visits == 1 and tree.nodes[ROOT].value_sum == 1.0
    assert policy.requests == [("toy-0", ROOT, 8)]


@pytest.mark.parametrize(("verified", "expected"), [(True, 0.0), (False, 0.9)])
def test_mcts_terminal_reward_verified_or_prm(verified, expected):
    """A wrong terminal step the PRM likes: the verifier's 0 backs up, or the PRM's 0.9 when not verified."""
    policy = ScriptedPolicy({"": ["fail"]})
    config = MCTSConfig(simulations=3, verified_reward=verified, widening=False)
    trees, _ = run_search(toy_problems(), "mcts", config, policy, TablePRM({"fail": 0.9}), ToyDomain())
    tree = trees[0]
    assert tree.trace == [ROOT]  # then the tree is exhausted: no simulation revisits the terminal child
    assert tree.nodes[ROOT].visits == 1
    assert tree.nodes[ROOT].value_sum == pytest.approx(expected)


def test_mcts_prefers_the_better_scored_child():
    def children(steps):
        return [] if len(steps) >= 6 else [f"{steps[-1] if steps else ''}{c}" for c in "xy"]

    prm = TablePRM(fn=lambda steps: 0.9 if steps[-1].startswith("x") else 0.1)
    trees, _ = run_search(
        toy_problems(), "mcts", MCTSConfig(simulations=30, expand_width=2), ScriptedPolicy(children), prm, ToyDomain()
    )
    nodes = trees[0].nodes
    good, bad = (nodes[c] for c in nodes[ROOT].children)
    assert good.step == "x" and bad.step == "y"
    assert good.visits > 3 * bad.visits


def test_mcts_priors_are_the_softmax_of_logprobs():
    props = [Proposal("a", logprob=math.log(0.2)), Proposal("b", logprob=math.log(0.6)), Proposal("c", logprob=None)]
    policy = ScriptedPolicy({"": props[:2] + [Proposal("d", logprob=math.log(0.2))], "a": props})
    config = MCTSConfig(simulations=3, widening=False)
    trees, _ = run_search(toy_problems(), "mcts", config, policy, TablePRM(), ToyDomain())
    nodes = trees[0].nodes
    assert [nodes[c].prior for c in nodes[ROOT].children] == pytest.approx([0.2, 0.6, 0.2])
    expanded = [n for n in nodes[1:] if n.children]
    assert expanded, "a second node was expanded"
    for node in expanded:  # a missing logprob among the children: uniform priors
        if node.step == "a":
            assert [nodes[c].prior for c in node.children] == pytest.approx([1 / 3] * 3)


def test_mcts_node_budget_partial_expansion_and_stop():
    policy = ScriptedPolicy(lambda steps: [f"{len(steps)}-{k}" for k in range(3)])
    config = MCTSConfig(simulations=100, budget=Budget(nodes=9), expand_width=3, widening=False)
    trees, _ = run_search(toy_problems(), "mcts", config, policy, TablePRM(), ToyDomain())
    tree = trees[0]
    assert [n for _, _, n in policy.requests] == [3, 3, 2]
    assert len(tree.nodes) == 9
    assert tree.nodes[ROOT].visits == 3  # the fourth selected leaf had no room: nothing backed up
    assert len(tree.trace) == 3


def test_mcts_zero_simulations_and_tiny_budget():
    problems = generate_problems(3, seed=1)
    trees, _ = real_run("mcts", MCTSConfig(simulations=0), problems)
    assert all(len(t.nodes) == 1 and t.trace == [] and t.nodes[ROOT].visits == 0 for t in trees)
    trees, _ = real_run("mcts", MCTSConfig(simulations=10, budget=Budget(nodes=1)), problems)
    assert all(len(t.nodes) == 1 and t.trace == [] and t.nodes[ROOT].visits == 0 for t in trees)


# --- A* ---------------------------------------------------------------------------------------------


def f_of(node, config: AStarConfig) -> float:
    """f with the score floored for a live node (the oracle's scores are no counts); infinite for a dead one."""
    h = {"neglog": lambda s: -math.log(s) if s > 0 else math.inf, "linear": lambda s: 1.0 - s}[config.heuristic]
    value = node.score if node.dead else max(node.score, config.score_floor)
    return config.step_cost * node.depth + config.h_weight * h(value)


def check_astar_tree(tree: SearchTree, config: AStarConfig) -> None:
    """A*'s invariants without widening (a node popped again asks for more: tests/test_widening.py)."""
    assert not config.widening
    nodes, trace = tree.nodes, tree.trace
    assert trace[0] == ROOT
    assert len(set(trace)) == len(trace)  # each node is pushed, hence popped, once
    assert spent(tree.compute, "nodes") <= config.budget.nodes
    position = {node_id: i for i, node_id in enumerate(trace)}
    for node_id in trace[1:]:
        node = nodes[node_id]
        assert position[node.parent] < position[node_id]  # generated when its parent was popped
        assert f_of(node, config) < math.inf  # infinite f is never pushed
    for node in nodes:
        if node.expanded:
            assert node.id in position and not node.terminal
    correct = [i for i in trace if nodes[i].correct]
    if config.stop_at_first_solution:
        assert correct in ([], [trace[-1]])
    # a popped node is expanded unless it is terminal (goal-tested, never expanded) or the budget stopped it
    for node_id in trace[:-1]:
        node = nodes[node_id]
        assert node.terminal != node.expanded
    assert sum(n.expanded for n in nodes) == tree.compute.policy_calls


@pytest.mark.parametrize(
    ("config", "noise", "budget_binds"),
    [
        (AStarConfig(budget=Budget(nodes=200), expand_width=4, widening=False), NOISY, False),
        (
            AStarConfig(budget=Budget(nodes=37), expand_width=5, heuristic="linear", step_cost=0.0, widening=False),
            NOISY,
            True,
        ),
        (
            AStarConfig(
                budget=Budget(nodes=60), expand_width=3, h_weight=2.0, stop_at_first_solution=False, widening=False
            ),
            NOISY,
            False,
        ),
        (AStarConfig(budget=Budget(nodes=10), expand_width=4, widening=False), EXACT, True),
    ],
)
def test_astar_invariants_on_real_runs(config, noise, budget_binds):
    problems = generate_problems(40, seed=config.budget.nodes)
    trees, _ = real_run("astar", config, problems, noise)
    for problem, tree in zip(problems, trees, strict=True):
        assert tree.search == "astar"
        check_tree_structure(tree)
        check_states(tree, problem)
        check_solutions(tree, problem)
        check_astar_tree(tree, config)
    assert any(t.solved for t in trees)
    if budget_binds:
        assert any(spent(t.compute, "nodes") > config.budget.nodes - config.expand_width for t in trees)


@pytest.mark.parametrize("kind", ["neglog", "linear"])
def test_astar_pops_in_nondecreasing_f_with_the_exact_oracle(kind):
    """The exact oracle makes h take two values that never drop along a path: h is consistent."""
    config = AStarConfig(budget=Budget(nodes=150), expand_width=10, step_cost=0.1, heuristic=kind, widening=False)
    problems = generate_problems(25, seed=3)
    trees, _ = real_run(
        "astar", config, problems, dict(policy=SymbolicPolicyConfig(mistake_rate=0.2), prm=OracleConfig())
    )
    for tree in trees:
        f = [f_of(tree.nodes[i], config) for i in tree.trace[1:]]
        assert all(a <= b + 1e-12 for a, b in zip(f, f[1:], strict=False)), f
    assert sum(t.solved for t in trees) > len(trees) / 4
    assert sum(len(t.trace) for t in trees) > 4 * len(trees)


def test_astar_exact_oracle_greedy_goes_straight_to_a_solution():
    """With best-first by value (step_cost 0), the exact oracle and every legal move proposed, A* pops exactly
    one solution path."""
    config = AStarConfig(budget=Budget(nodes=10_000), expand_width=100, step_cost=0.0)
    problems = generate_problems(20, seed=11)
    trees, _ = real_run("astar", config, problems, dict(policy=SymbolicPolicyConfig(sample=False), prm=OracleConfig()))
    for tree in trees:
        assert tree.nodes[tree.trace[-1]].correct
        assert tree.trace == tree.path_to(tree.trace[-1])


def toy_consistent_h(step_cost: float, spread: float):
    """A PRM whose h = -log(score) lies in [0, spread * step_cost]: consistent when spread <= 1."""

    def children(steps):
        if len(steps) >= 5:
            return ["fail"]
        return [*(f"{len(steps)}.{k}" for k in range(3)), "fail", "err"]

    def score(steps):
        return math.exp(-spread * step_cost * stable_unit(key(steps)))

    return ScriptedPolicy(children), TablePRM(fn=score)


def popped_f(config: AStarConfig, spread: float) -> tuple[list[float], SearchTree]:
    policy, prm = toy_consistent_h(config.step_cost, spread)
    trees, _ = run_search(toy_problems(), "astar", config, policy, prm, ToyDomain())
    tree = trees[0]
    return [f_of(tree.nodes[i], config) for i in tree.trace[1:]], tree


def test_astar_consistent_heuristic_pops_nondecreasing_f():
    config = AStarConfig(
        budget=Budget(nodes=150), expand_width=5, step_cost=0.3, stop_at_first_solution=False, widening=False
    )
    f, tree = popped_f(config, spread=1.0)
    nodes = tree.nodes
    h = {n.id: f_of(n, config) - config.step_cost * n.depth for n in nodes[1:]}
    h[ROOT] = 0.0
    for n in nodes[1:]:  # the premise: h(parent) <= step_cost + h(child)
        assert h[n.parent] <= config.step_cost + h[n.id] + 1e-12
    assert len(f) > 50
    assert all(a <= b + 1e-12 for a, b in zip(f, f[1:], strict=False))
    check_astar_tree(tree, config)


def test_astar_f_order_check_can_fail_with_an_inconsistent_heuristic():
    """The check above is not vacuous: a heuristic spread over 8 step costs breaks monotone f."""
    config = AStarConfig(
        budget=Budget(nodes=150), expand_width=5, step_cost=0.3, stop_at_first_solution=False, widening=False
    )
    f, _ = popped_f(config, spread=8.0)
    assert any(a > b for a, b in zip(f, f[1:], strict=False))


def test_astar_order_is_predicted_and_goal_tested_when_generated():
    policy = ScriptedPolicy({"": ["a", "b", "c"], "b": ["b1", "b2"], "c": ["goal-c"], "a": ["goal-a"]})
    prm = TablePRM({"a": 0.5, "b": 0.9, "c": 0.7, "b1": 0.2, "b2": 0.95, "goal-c": 0.99, "goal-a": 1.0})
    config = AStarConfig(step_cost=0.0)
    trees, _ = run_search(toy_problems(), "astar", config, policy, prm, ToyDomain())
    tree = trees[0]
    steps = [tree.nodes[i].step for i in tree.trace]
    # f = -log(score): b (.105), b2 (.051, no children), c (.357): goal-c ends the search where c's expansion creates
    # it, although a's goal would score higher
    assert steps == ["", "b", "b2", "c", "goal-c"]
    assert {tree.nodes[i].step for i, n in enumerate(tree.nodes) if n.expanded} == {"", "b", "b2", "c"}
    assert [r[1] for r in policy.requests] == [0, 2, 5, 3]


@pytest.mark.parametrize(
    ("step_cost", "expected"),
    [
        # equal f everywhere: deeper first, then creation order (depth-first, leftmost first)
        (0.0, ["", "p", "p1", "p2", "q", "q1", "goal"]),
        # f grows with depth: breadth-first, creation order within a level
        (0.1, ["", "p", "q", "p1", "p2", "q1", "goal"]),
    ],
)
def test_astar_tie_breaking_is_deterministic(step_cost, expected):
    script = {"": ["p", "q"], "p": ["p1", "p2"], "q": ["q1"], "q/q1": ["goal"]}
    for _ in range(2):
        policy = ScriptedPolicy(script)
        trees, _ = run_search(
            toy_problems(), "astar", AStarConfig(step_cost=step_cost), policy, TablePRM(default=0.5), ToyDomain()
        )
        assert [trees[0].nodes[i].step for i in trees[0].trace] == expected


def test_astar_never_pushes_zero_scored_children_with_neglog():
    policy = ScriptedPolicy({"": ["dead", "alive"], "alive": ["goal"]})
    prm = TablePRM({"dead": 0.0, "alive": 0.1, "goal": 0.1})
    trees, _ = run_search(toy_problems(), "astar", AStarConfig(widening=False), policy, prm, ToyDomain())
    assert [trees[0].nodes[i].step for i in trees[0].trace] == ["", "alive", "goal"]
    # with the linear heuristic a score of 0 is merely bad (h = 1) and the node is still popped
    config = AStarConfig(heuristic="linear", step_cost=0.0, stop_at_first_solution=False, widening=False)
    policy = ScriptedPolicy({"": ["dead", "alive"], "alive": ["goal"]})
    trees, _ = run_search(toy_problems(), "astar", config, policy, prm, ToyDomain())
    assert [trees[0].nodes[i].step for i in trees[0].trace] == ["", "alive", "goal", "dead"]


def test_astar_node_budget_exact():
    policy = ScriptedPolicy(lambda steps: [f"{len(steps)}-{k}" for k in range(4)])
    trees, _ = run_search(
        toy_problems(), "astar", AStarConfig(budget=Budget(nodes=11), expand_width=4), policy, TablePRM(), ToyDomain()
    )
    tree = trees[0]
    assert len(tree.nodes) == 11
    assert [n for _, _, n in policy.requests] == [4, 4, 2]


def test_unknown_heuristic_raises_before_any_expansion():
    with pytest.raises(ValueError, match="unknown heuristic"):
        heuristic(0.5, "manhattan")
    with pytest.raises(ValueError, match="heuristic: unknown heuristic 'nope'"):
        AStarConfig(heuristic="nope")
    config = AStarConfig()
    config.heuristic = "nope"  # changed after the config was built: make_search checks it again
    with pytest.raises(ValueError, match="search.astar.heuristic: unknown heuristic 'nope'"):
        make_search("astar", config)


def test_heuristic_values():
    assert heuristic(1.0, "neglog") == 0.0
    assert heuristic(0.0, "neglog") == math.inf
    assert heuristic(math.exp(-2.0), "neglog") == pytest.approx(2.0)
    assert heuristic(0.25, "linear") == 0.75


def test_make_search_and_runner_reject_bad_arguments():
    with pytest.raises(ValueError, match="unknown search"):
        make_search("dijkstra", None)
    with pytest.raises(ValueError, match="concurrency"):
        Runner(
            CountdownDomain(),
            SymbolicCountdownPolicy(),
            CountdownOraclePRM(),
            make_search("mcts", MCTSConfig()),
            "mcts",
            concurrency=0,
        )


# --- the runner -------------------------------------------------------------------------------------


def test_runner_yields_in_problem_order_although_searches_finish_out_of_order():
    """Problem i needs 12 - i steps: later problems finish first when run together."""
    problems = toy_problems(12)
    depth = {p.id: 12 - i for i, p in enumerate(problems)}

    class Policy(ScriptedPolicy):
        def propose(self, requests):
            return [
                [Proposal("goal" if len(r.steps) + 1 >= depth[r.tree.problem_id] else f"s{len(r.steps)}")]
                for r in requests
            ]

    for concurrency in (1, 3, 64):
        finished = []
        inner = make_search("astar", AStarConfig(widening=False))  # one pop per node: traces of known length

        def recording(tree, inner=inner, finished=finished):
            yield from inner(tree)
            finished.append(tree.problem_id)

        runner = Runner(ToyDomain(), Policy(), TablePRM(), recording, "astar", concurrency=concurrency)
        trees = list(runner.run(problems))
        assert [t.problem_id for t in trees] == [p.id for p in problems]
        assert all(t.solved and len(t.trace) == depth[t.problem_id] + 1 for t in trees)
        if concurrency == 1:
            assert finished == [p.id for p in problems]
        else:
            assert finished != [p.id for p in problems]
        if concurrency == 64:
            assert finished == [p.id for p in reversed(problems)]


@pytest.mark.parametrize("search", ["mcts", "astar"])
def test_runner_real_order_and_batching(search):
    problems = generate_problems(100, seed=4)
    config = MCTSConfig(simulations=32, expand_width=4) if search == "mcts" else AStarConfig(budget=Budget(nodes=80))
    for concurrency in (1, 16):
        policy = CountingPolicy(SymbolicCountdownPolicy(NOISY["policy"]))
        prm = CountingPRM(CountdownOraclePRM(NOISY["prm"]))
        trees, runner = run_search(problems, search, config, policy, prm, concurrency=concurrency)
        stats = runner.stats
        assert [t.problem_id for t in trees] == [p.id for p in problems]
        # one backend call per kind per round at most, and the stats count the calls really made
        assert stats.policy_calls == len(policy.batches) <= stats.rounds
        assert stats.prm_calls == len(prm.batches) <= stats.rounds
        assert stats.policy_requests == sum(policy.batches) == sum(t.compute.policy_calls for t in trees)
        assert stats.prm_requests == sum(prm.batches) == sum(t.compute.scored_nodes for t in trees)
        assert max(policy.batches) <= concurrency
        # every proposal is a child or merged into one (asked again, a sloppy policy can repeat a slip); a
        # transposition is a child too, and counts in its holder's duplicates
        transposed = sum(n.transposes is not None for t in trees for n in t.nodes)
        merged = sum(n.duplicates for t in trees for n in t.nodes) - transposed
        # ... and the other nodes are the corrected steps of slips the search found (search.expand.repair)
        repairs = sum(t.compute.repairs for t in trees)
        assert sum(t.compute.proposals for t in trees) + repairs == sum(len(t.nodes) - 1 for t in trees) + merged
        if concurrency == 1:
            assert stats.mean_policy_batch == 1.0
        else:
            assert stats.mean_policy_batch > 4
            assert stats.mean_prm_batch > stats.mean_policy_batch  # several children scored per request


def test_runner_search_time_counts_its_own_work_not_the_callers():
    problems = generate_problems(4, seed=4)

    class SlowPolicy(CountingPolicy):
        def propose(self, requests):
            time.sleep(0.01)
            return super().propose(requests)

    config = AStarConfig(budget=Budget(nodes=30))
    runner = Runner(
        CountdownDomain(),
        SlowPolicy(SymbolicCountdownPolicy()),
        CountdownOraclePRM(),
        make_search("astar", config),
        "astar",
    )
    for _ in runner.run(problems):
        time.sleep(0.5)  # the caller's work on a tree (linearizing, writing) is not the runner's
    stats = runner.stats
    assert 0.01 * stats.policy_calls <= stats.policy_time <= stats.search_time < 1.0


def canonical(trees: list[SearchTree]) -> bytes:
    dicts = [t.to_dict() for t in trees]
    for d in dicts:
        assert d["compute"]["wall_time"] >= 0.0
        d["compute"]["wall_time"] = 0.0
    return orjson.dumps(dicts)


@pytest.mark.parametrize("search", ["mcts", "astar"])
def test_runner_is_deterministic_whatever_the_concurrency(search):
    problems = generate_problems(40, seed=9)
    config = MCTSConfig(simulations=32, expand_width=4) if search == "mcts" else AStarConfig(budget=Budget(nodes=60))
    noise = dict(policy=SymbolicPolicyConfig(mistake_rate=0.2), prm=OracleConfig(flip_prob=0.2, gaussian_std=0.1))
    outputs = {c: canonical(real_run(search, config, problems, noise, concurrency=c, seed=3)[0]) for c in (1, 7, 64)}
    assert outputs[1] == outputs[7] == outputs[64]
    # ...and it depends on the run seed
    assert canonical(real_run(search, config, problems, noise, concurrency=7, seed=4)[0]) != outputs[7]


class TruncatingPolicy:
    """The symbolic policy, but every step that would finish the problem (and every third one) is cut off."""

    def __init__(self):
        self.inner = SymbolicCountdownPolicy()
        self.cut_solutions = 0

    def propose(self, requests):
        out = []
        for r, props in zip(requests, self.inner.propose(requests), strict=True):
            cut = []
            for i, p in enumerate(props):
                state = apply_step(tuple(r.node.state), p.text)
                solves = state == (r.problem.target,)
                self.cut_solutions += solves
                cut.append(dataclasses.replace(p, finish_reason="length") if solves or i % 3 == 2 else p)
            out.append(cut)
        return out


@pytest.mark.parametrize("search", ["mcts", "astar"])
def test_truncated_proposals_become_dead_nodes(search):
    problems = generate_problems(30, seed=2)
    config = (
        MCTSConfig(simulations=40, expand_width=6)
        if search == "mcts"
        else AStarConfig(budget=Budget(nodes=150), step_cost=0.0)
    )
    policy = TruncatingPolicy()
    trees, _ = real_run(search, config, problems, policy=policy)
    assert policy.cut_solutions > 0
    truncated = 0
    for tree in trees:
        assert not tree.solved
        for node in tree.nodes[1:]:
            assert node.correct is not True
            if node.finish_reason == "length":
                truncated += 1
                assert node.error == TRUNCATED
                assert node.terminal and node.correct is False and node.dead and node.state is None
                assert not node.expanded
                assert node.score == 0.0  # the oracle never credits a dead node
            else:
                assert node.error is None
    assert truncated > policy.cut_solutions


@pytest.mark.parametrize("search", ["mcts", "astar"])
def test_all_wrong_steps_give_dead_nodes_repaired_by_the_domain(search):
    """Every proposed step slips (once per operation): each is a dead node saying what is true, and its corrected
    step (the domain's, not proposed) is a live sibling the search goes on from; the search finishes within its
    budget."""
    problems = generate_problems(15, seed=6)
    config = MCTSConfig(simulations=100, expand_width=4) if search == "mcts" else AStarConfig(budget=Budget(nodes=200))
    trees, _ = real_run(
        search, config, problems, dict(policy=SymbolicPolicyConfig(mistake_rate=1.0), prm=OracleConfig())
    )
    assert len(trees) == len(problems)
    domain = CountdownDomain()
    for tree in trees:
        assert tree.failed is None
        assert config.budget.nodes is None or spent(tree.compute, "nodes") <= config.budget.nodes
        proposed = [n for n in tree.nodes[1:] if n.tokens]
        repairs = [n for n in tree.nodes[1:] if not n.tokens]
        assert len(repairs) == tree.compute.repairs > 0
        slipped = set()  # the policy slips once per operation in a search: a repeat of one is right
        for node in proposed:
            operation = operation_of(node.step)
            if operation in slipped:
                assert node.error is None  # its result is right (a last step may still miss the target)
                continue
            slipped.add(operation)
            assert node.dead and node.correct is False
            assert re.fullmatch(r"\d+ [-+*/] \d+ is \d+, not \d+", node.error), node.error
            fixed = tree.nodes[node.repair]
            assert fixed.parent == node.parent and fixed.error is None
            assert fixed.step == domain.correct_step(None, tree.nodes[node.parent].state, node.step)
        assert any(n.id in tree.trace for n in repairs)  # the search goes on from a correction
        check_tree_structure(tree)
    assert sum(t.solved for t in trees) > 0  # the corrections reach solutions no proposal could


# --- the search tree --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def some_trees():
    return noisy_run("mcts", count=20, seed=8).trees + noisy_run("astar", count=20, seed=8).trees


def test_tree_json_round_trip(some_trees):
    for tree in some_trees:
        data = orjson.loads(orjson.dumps(tree.to_dict()))
        back = SearchTree.from_dict(data)
        assert back.to_dict() == data
        assert orjson.loads(orjson.dumps(back.to_dict())) == data
        assert back.trace == tree.trace and back.compute == tree.compute and back.solved == tree.solved
        assert [n.state for n in back.nodes] == [None if n.state is None else list(n.state) for n in tree.nodes]
        assert data["solved"] == tree.solved and data["search"] == tree.search
        assert all(node.get("reexpanded", 1) > 0 for node in data["nodes"])  # written only when not 0
        assert all(("expanded_at" in node) == node["expanded"] for node in data["nodes"])  # only when expanded
        assert set(data["nodes"][0]) - {"reexpanded", "expanded_at"} == {
            "id", "parent", "depth", "path", "step", "state", "tokens", "logprob", "finish_reason", "prior",
            "score", "visits", "value_sum", "terminal", "correct", "error", "expanded", "duplicates", "children",
        }  # fmt: skip


def test_tree_paths_match_child_indices(some_trees):
    for tree in some_trees:
        by_path = {n.path: n.id for n in tree.nodes}
        assert len(by_path) == len(tree.nodes)
        for node in tree.nodes:
            indices = [int(part) for part in node.path.split(".")]
            assert indices[0] == 0 and len(indices) == node.depth + 1
            walk = ROOT
            for index in indices[1:]:
                walk = tree.nodes[walk].children[index]
            assert walk == node.id


def test_tree_path_to_steps_to_and_common_ancestor(some_trees):
    rng = random.Random(0)
    for tree in some_trees:
        nodes = tree.nodes
        for node in nodes:
            path = tree.path_to(node.id)
            assert path[0] == ROOT and path[-1] == node.id and len(path) == node.depth + 1
            assert all(nodes[b].parent == a for a, b in zip(path, path[1:], strict=False))
            assert tree.steps_to(node.id) == [nodes[i].step for i in path[1:]]
        for _ in range(30):
            a, b = rng.randrange(len(nodes)), rng.randrange(len(nodes))
            pa, pb = tree.path_to(a), tree.path_to(b)
            shared = [x for x, y in zip(pa, pb, strict=False) if x == y]
            assert tree.common_ancestor(a, b) == shared[-1] == tree.common_ancestor(b, a)
        leaf = len(nodes) - 1
        assert tree.common_ancestor(leaf, leaf) == leaf
        assert tree.common_ancestor(ROOT, leaf) == ROOT
        assert tree.common_ancestor(nodes[leaf].parent, leaf) == nodes[leaf].parent


def test_tree_to_networkx(some_trees):
    for tree in some_trees[::5]:
        graph = tree.to_networkx()
        assert graph.number_of_nodes() == len(tree.nodes)
        assert graph.number_of_edges() == len(tree.nodes) - 1
        assert nx.is_arborescence(graph)
        assert set(graph.edges) == {(n.parent, n.id) for n in tree.nodes[1:]}
        assert graph.graph["problem_id"] == tree.problem_id and graph.graph["trace"] == tree.trace
        for node in tree.nodes:
            attrs = graph.nodes[node.id]
            assert "children" not in attrs
            assert (attrs["step"], attrs["path"], attrs["score"], attrs["visits"]) == (
                node.step,
                node.path,
                node.score,
                node.visits,
            )
            assert sorted(graph.successors(node.id)) == sorted(node.children)


def test_tree_add_child_and_node_properties():
    tree = SearchTree.with_root("p", {"numbers": [1, 2]}, (1, 2))
    a = tree.add_child(tree.root, "1 + 2 = 3", state=(3,), terminal=True, correct=True, score=0.25)
    b = tree.add_child(tree.root, "bad", error="nope", terminal=True, correct=False)
    assert (a.id, a.path, b.path, a.depth) == (1, "0.0", "0.1", 1)
    assert tree.root.children == [1, 2] and tree.compute.nodes == 3
    assert tree.solved and tree.solutions() == [a]
    assert not a.dead and b.dead
    assert a.value == 0.25  # unvisited: the PRM score
    a.visits, a.value_sum = 4, 3.0
    assert a.value == 0.75
    tree.visit(b)
    assert tree.trace == [2]


# --- MCTS selection rules on hand-built trees -------------------------------------------------------


def two_children(prior_a: float, visits_a: int, q_a: float, score_b: float) -> SearchTree:
    """A root visited 1 + visits_a times with a visited child a (prior_a, Q q_a) and an unvisited child b."""
    tree = SearchTree.with_root("p", {}, (1, 2))
    a = tree.add_child(tree.root, "a", state=(3,), prior=prior_a, score=q_a)
    b = tree.add_child(tree.root, "b", state=(4,), prior=1 - prior_a, score=score_b)
    a.visits, a.value_sum = visits_a, q_a * visits_a
    tree.root.visits = 1 + visits_a
    assert b.visits == 0
    return tree


def test_puct_follows_the_policy_prior_where_uct_tries_the_unvisited_child():
    tree = two_children(prior_a=0.9, visits_a=5, q_a=0.5, score_b=0.5)
    chosen = {rule: select(tree, MCTSConfig(selection=rule))[-1].step for rule in ("puct", "uct")}
    assert chosen == {"puct": "a", "uct": "b"}


def test_uct_prefers_the_better_value_at_equal_visits_whatever_the_prior():
    tree = two_children(prior_a=0.99, visits_a=0, q_a=0.2, score_b=0.8)
    assert select(tree, MCTSConfig(selection="uct"))[-1].step == "b"
    assert select(tree, MCTSConfig(selection="puct", c_puct=5.0))[-1].step == "a"


def test_q_init_zero_ignores_the_unvisited_childs_value():
    tree = two_children(prior_a=0.5, visits_a=3, q_a=0.6, score_b=1.0)
    config = MCTSConfig(selection="uct", c_uct=0.1)
    assert select(tree, config)[-1].step == "b"  # Q initialised from its value, 1.0
    assert select(tree, MCTSConfig(selection="uct", c_uct=0.1, q_init="zero"))[-1].step == "a"
    with pytest.raises(ValueError, match="selection"):
        MCTSConfig(selection="ucb")


def test_q_init_is_one_rule_for_selection_and_the_values_backed_up():
    # an expansion whose new steps are all verified wrong backs up the leaf's own Q: unvisited, its value or 0
    tree = SearchTree.with_root("p", {}, ())
    tree.root.score = 0.7
    wrong = [tree.add_child(tree.root, s, terminal=True, correct=False) for s in ("a", "b")]
    backed = {
        q_init: expansion_value(tree.root, wrong, MCTSConfig(q_init=q_init), widened=False, may_grow=True)
        for q_init in ("value", "zero")
    }
    assert backed == {"value": 0.7, "zero": 0.0}


def test_uct_mcts_solves_with_the_exact_oracle():
    problems = generate_problems(10, seed=5)
    trees, _ = real_run("mcts", MCTSConfig(selection="uct", budget=Budget(nodes=200)), problems, EXACT)
    assert sum(t.solved for t in trees) >= 6
    assert all(len(t.nodes) <= 200 for t in trees)


def test_mcts_stops_when_the_tree_is_exhausted():
    from metacot.policy.symbolic import SymbolicCountdownPolicy
    from metacot.prm.oracle import CountdownOraclePRM
    from metacot.problems.countdown import CountdownDomain, CountdownProblem
    from metacot.search import MCTSConfig, Runner, make_search

    unsolvable = CountdownProblem("tiny", (1, 2), 100)  # a handful of nodes, no solution
    search = make_search("mcts", MCTSConfig(simulations=100_000))
    started = time.perf_counter()
    (tree,) = Runner(CountdownDomain(), SymbolicCountdownPolicy(), CountdownOraclePRM(), search, "mcts").run(
        [unsolvable]
    )
    assert time.perf_counter() - started < 5
    assert not tree.solved and tree.failed is None
    assert all(node.terminal or node.expanded for node in tree.nodes)
    assert len(tree.trace) < 50, "no simulation after the tree was exhausted"
    assert tree.root.visits < 50


def operation_of(step: str) -> tuple:
    """'19 - 4 = 13' -> its operation, operands sorted where their order does not matter."""
    a, op, b = step.split(" = ")[0].split(" ")
    return (op, *sorted((int(a), int(b)))) if op in "+*" else (int(a), op, int(b))
