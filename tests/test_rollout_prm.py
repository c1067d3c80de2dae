"""The Monte Carlo rollout PRM: scores from verified completions, one batched policy call per round."""

from __future__ import annotations

import math

import pytest

from metacot.policy.base import ExpandRequest
from metacot.policy.symbolic import SymbolicCountdownPolicy, SymbolicPolicyConfig
from metacot.prm.base import ScoreRequest
from metacot.prm.rollout import RolloutConfig, RolloutPRM
from metacot.problems.countdown import CountdownDomain, apply_step, generate_problems, reachable
from metacot.search import AStarConfig, MCTSConfig, Runner, make_search
from metacot.search.astar import estimate, f_value
from metacot.tree import SearchTree


class CountingPolicy(SymbolicCountdownPolicy):
    def __init__(self, config=None):
        super().__init__(config)
        self.rollout_calls: list[int] = []

    def rollout(self, requests):
        self.rollout_calls.append(len(requests))
        return super().rollout(requests)


def score_requests(problem, states_and_steps):
    domain = CountdownDomain()
    requests = []
    for i, steps in enumerate(states_and_steps):
        tree = SearchTree.with_root(problem.id, domain.problem_to_dict(problem), domain.root_state(problem))
        node = tree.root
        for step in steps:
            outcome = domain.apply_step(problem, node.state, step)
            node = tree.add_child(
                node, step, state=outcome.state, terminal=outcome.terminal, correct=outcome.correct, error=outcome.error
            )
        requests.append(ScoreRequest(problem=problem, tree=tree, node=node, seed=1000 + i))
    return requests


def test_playouts_are_legal_complete_and_seeded():
    policy = SymbolicCountdownPolicy()
    problem = generate_problems(1, seed=3)[0]
    tree = SearchTree.with_root(problem.id, {}, problem.numbers)
    request = ExpandRequest(problem=problem, tree=tree, node=tree.root, n=5, seed=7)
    playouts = policy.rollout([request])[0]
    assert len(playouts) == 5 and len(set(map(tuple, playouts))) > 1
    for steps in playouts:
        state = problem.numbers
        for step in steps:
            state = apply_step(state, step)
        assert len(state) == 1
    assert policy.rollout([request])[0] == playouts


def test_soft_scores_are_fractions_of_verified_playouts_and_dead_ends_score_zero():
    problem = generate_problems(1, seed=11)[0]
    a, b, c, d = problem.numbers
    moves = [f"{a} + {b} = {a + b}", f"{a} * {b} = {a * b}"]
    requests = score_requests(problem, [[moves[0]], [moves[1]], [f"{a} + {b} = {a + b + 1}"]])
    prm = RolloutPRM(RolloutConfig(rollouts=16), CountdownDomain(), SymbolicCountdownPolicy())
    scores = prm.score(requests)
    assert scores[2] == 0.0  # an illegal step: no rollouts needed
    for request, score in zip(requests[:2], scores[:2], strict=True):
        assert score * 16 == int(score * 16)
        if not reachable(request.node.state, problem.target):
            assert score == 0.0  # no completion of an unreachable state can verify
    hard = RolloutPRM(RolloutConfig(rollouts=16, mode="hard"), CountdownDomain(), SymbolicCountdownPolicy())
    assert [s > 0 for s in scores] == [h == 1.0 for h in hard.score(requests)]


def test_mcts_with_the_rollout_prm_batches_rollouts_once_per_round():
    policy = CountingPolicy(SymbolicPolicyConfig(mistake_rate=0.0))
    prm = RolloutPRM(RolloutConfig(rollouts=4), CountdownDomain(), policy)
    runner = Runner(
        CountdownDomain(), policy, prm, make_search("mcts", MCTSConfig(simulations=16)), "mcts", concurrency=16
    )
    trees = list(runner.run(generate_problems(32, seed=5)))
    assert 0 < len(policy.rollout_calls) <= runner.stats.prm_calls  # at most one per round: none when all are known
    assert max(policy.rollout_calls) > 8  # many searches' scorings in one call
    assert sum(t.solved for t in trees) >= 16
    for tree in trees:
        assert all(0.0 <= n.score <= 1.0 for n in tree.nodes[1:] if n.score is not None)


def test_bad_settings_are_named():  # when the config is built (the whole key: tests/test_config_bounds.py)
    with pytest.raises(ValueError, match="^mode: unknown mode 'median'"):
        RolloutConfig(mode="median")


def test_a_monte_carlo_score_carries_its_counts_on_the_node_and_astar_never_prunes_zero_of_k():
    problem = generate_problems(1, seed=11)[0]
    a, b, _, _ = problem.numbers
    requests = score_requests(problem, [[f"{a} + {b} = {a + b}"], [f"{a} + {b} = {a + b + 1}"]])
    prm = RolloutPRM(RolloutConfig(rollouts=6), CountdownDomain(), SymbolicCountdownPolicy())
    scores = prm.score(requests)
    live, dead = requests[0].node, requests[1].node
    assert live.rollouts == 6 and live.successes == round(scores[0] * 6)
    assert dead.rollouts is None and scores[1] == 0.0  # known dead: no playouts, no counts
    config = AStarConfig()
    live.score, live.successes = 0.0, 0  # 0 of 6 playouts: unlikely, not impossible
    assert estimate(live, config) == pytest.approx(1 / 8) and f_value(live, estimate(live, config), config) < math.inf
    # smoothed toward the parent's estimate: 0 of 6 weighs more under a parent whose playouts failed too
    assert estimate(live, config, parent=0.1) == pytest.approx(0.2 / 8)
    assert estimate(live, config, parent=0.9) == pytest.approx(1.8 / 8)
    dead.score = 0.0
    assert f_value(dead, estimate(dead, config), config) == math.inf  # a verified dead step may still be pruned
    unscored = requests[0].tree.add_child(live, "x", state=(1, 2))  # a live node whose score is no count
    unscored.score = 0.0
    assert estimate(unscored, config) == config.score_floor
    with pytest.raises(ValueError, match="score_floor"):
        AStarConfig(score_floor=2.0)
