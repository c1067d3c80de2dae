"""Monte Carlo values without waste: rollouts counted in Compute and bounded by the budget, reused by descendants,
stopped early once decisive."""

from __future__ import annotations

import orjson
import pytest

from metacot.assemble import build_runner
from metacot.cli import main
from metacot.config import SynthConfig
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.base import ScoreRequest
from metacot.prm.interval import decisive, wilson
from metacot.prm.rollout import RolloutConfig, RolloutPRM
from metacot.problems import make_domain, make_problems
from metacot.problems.countdown import CountdownDomain, generate_problems
from metacot.search import SEARCHES, AStarConfig, Budget, MCTSConfig, Runner, make_search
from metacot.search.budget import DEFAULT_ROLLOUTS
from metacot.tree import SearchTree

PROBLEMS = generate_problems(12, seed=5)


class CountingPolicy(SymbolicCountdownPolicy):
    """Records the n of every rollout request."""

    def __init__(self):
        super().__init__()
        self.asked: list[int] = []

    def rollout(self, requests):
        self.asked += [r.n for r in requests]
        return super().rollout(requests)


def run(config: RolloutConfig, budget: Budget | None = None, search: str = "astar", concurrency: int = 6):
    policy = CountingPolicy()
    prm = RolloutPRM(config, CountdownDomain(), policy)
    strategy = AStarConfig(step_cost=0.0) if search == "astar" else MCTSConfig(simulations=40)
    if budget is not None:
        strategy.budget = budget
    runner = Runner(
        CountdownDomain(), policy, prm, make_search(search, strategy), search, concurrency=concurrency, budget=budget
    )
    return list(runner.run(PROBLEMS)), policy


def scored(tree: SearchTree):
    return [n for n in tree.nodes if n.rollouts is not None]


def test_rollout_generation_is_counted_in_compute():
    trees, policy = run(RolloutConfig(rollouts=8, reuse=False))
    assert sum(t.compute.rollouts for t in trees) == sum(policy.asked) > 0
    for tree in trees:
        assert tree.compute.rollouts == sum(n.rollouts for n in scored(tree))
        assert tree.compute.rollout_calls == len(scored(tree))
        assert tree.compute.rollout_tokens >= 3 * tree.compute.rollouts // 2  # a playout step is 5 words
        assert "rollouts" in tree.to_dict()["compute"]


@pytest.mark.parametrize("search", ["astar", "mcts"])
def test_a_rollout_budget_bounds_the_completions_generated(search):
    free, _ = run(RolloutConfig(rollouts=8), search=search)
    limit = 40
    assert max(t.compute.rollouts for t in free) > limit  # without the limit some search spends more
    bounded, _ = run(RolloutConfig(rollouts=8), Budget(nodes=200, rollouts=limit), search=search)
    assert all(t.compute.rollouts <= limit for t in bounded)
    assert max(t.compute.rollouts for t in bounded) == limit  # the limit binds, and is used up exactly
    assert all(Budget(rollouts=limit).within(t.compute) for t in bounded)


def test_reused_rollouts_spare_generation_and_every_node_still_has_its_k():
    k = 16
    plain, _ = run(RolloutConfig(rollouts=k, reuse=False))
    reused, policy = run(RolloutConfig(rollouts=k, reuse=True))
    assert sum(t.compute.rollouts for t in reused) < sum(t.compute.rollouts for t in plain)
    assert sum(t.compute.reused_rollouts for t in reused) > 0
    for tree in reused:
        assert all(n.rollouts == k for n in scored(tree))  # reused + generated: exactly k per node
        assert tree.compute.rollouts + tree.compute.reused_rollouts == k * len(scored(tree))
    assert min(policy.asked) < k  # some node generated only the rest


def test_a_child_takes_over_the_completions_that_passed_through_it():
    problem = PROBLEMS[0]
    domain = CountdownDomain()
    tree = SearchTree.with_root(problem.id, domain.problem_to_dict(problem), domain.root_state(problem))
    policy = CountingPolicy()
    prm = RolloutPRM(RolloutConfig(rollouts=12), domain, policy)
    step = policy.propose([ScoreRequest(problem, tree, tree.root, seed=0)])[0][0].text
    parent = tree.add_child(tree.root, step, state=domain.apply_step(problem, tree.root.state, step).state)
    prm.score([ScoreRequest(problem, tree, parent, seed=3)])
    passed = tree.passing[parent.id]
    first, rests = max(passed.items(), key=lambda item: len(item[1]))
    child = tree.add_child(parent, first, state=domain.apply_step(problem, parent.state, first).state)
    prm.score([ScoreRequest(problem, tree, child, seed=4)])
    assert policy.asked == [12, 12 - len(rests)]
    assert tree.compute.reused_rollouts == len(rests) and child.rollouts == 12
    assert first not in tree.passing[parent.id]  # taken over once


def test_early_stopping_ends_a_node_once_its_interval_is_decisive():
    k = 32
    config = RolloutConfig(rollouts=k, early_stop=True, wave=4, decisive_below=0.3, decisive_above=0.7)
    trees, _ = run(config)
    full, _ = run(RolloutConfig(rollouts=k))
    nodes = [n for t in trees for n in scored(t)]
    assert any(n.rollouts < k for n in nodes)
    for n in nodes:
        assert n.rollouts == k or decisive(n.successes, n.rollouts, 0.3, 0.7)
    assert sum(t.compute.rollouts for t in trees) < sum(t.compute.rollouts for t in full)


def test_wilson_interval():
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0) and not decisive(0, 0, 0.5, 0.5)
    assert decisive(0, 16, 0.2, 0.8) and not decisive(0, 8, 0.2, 0.8) and decisive(16, 16, 0.2, 0.8)


def test_results_do_not_depend_on_concurrency():
    one, _ = run(RolloutConfig(rollouts=8, early_stop=True), Budget(nodes=200, rollouts=60), concurrency=1)
    many, _ = run(RolloutConfig(rollouts=8, early_stop=True), Budget(nodes=200, rollouts=60), concurrency=12)
    strip = lambda t: {**t.to_dict(), "compute": {**t.to_dict()["compute"], "wall_time": 0}}  # noqa: E731
    assert [strip(t) for t in one] == [strip(t) for t in many]


def test_the_reuse_benchmark_prints_both_settings_on_the_same_problems(capsys):
    flags = ["--preset", "metacot-paper", "--num-problems", "6", "--rollouts", "8", "--no-progress", "--json"]
    assert main(["bench", "rollouts", *flags]) == 0
    figures = orjson.loads(capsys.readouterr().out)
    plain, reused = figures["no reuse"], figures["reuse"]
    assert plain["problems"] == reused["problems"] == 6 and plain["reused_rollouts"] == 0
    assert reused["rollout_tokens"] < plain["rollout_tokens"] and reused["reused_rollouts"] > 0


def test_every_strategy_bounds_the_rollouts_of_a_tree_by_default():
    """Without a limit, A* that goes on after a solution scores 16 completions of each child up to its 300
    expansions; every strategy's default budget stops the rollout PRM at DEFAULT_ROLLOUTS a tree, used up exactly."""
    assert {name: cls().budget.rollouts for name, (cls, _) in SEARCHES.items()} == dict.fromkeys(
        SEARCHES, DEFAULT_ROLLOUTS
    )
    config = SynthConfig()
    config.problems.num_problems = 2
    config.search.strategy, config.prm.backend = "astar", "rollout"
    config.prm.rollout.rollouts = 16
    config.search.astar.stop_at_first_solution = False
    runner = build_runner(config, make_domain(config.problems))
    trees = list(runner.run(make_problems(config.problems, config.seed)))
    assert max(t.compute.rollouts for t in trees) == DEFAULT_ROLLOUTS
    assert all(config.search.astar.budget.within(t.compute) for t in trees)
