"""A backend that fails mid-run: the searches it fails are recorded as failed, with the reason, and the run goes
on, until the circuit breaker stops a run whose backend keeps failing."""

from __future__ import annotations

import copy
import re

import pytest

from metacot.config import ConfigError, SynthConfig, from_dict
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems.countdown import CountdownDomain, generate_problems
from metacot.search import MCTSConfig, Runner, make_search
from metacot.search.breaker import BackendOutage, Breaker, RunConfig


class BrokenFor(SymbolicCountdownPolicy):
    """Fails every call that includes a request of the poisoned problem."""

    def __init__(self, poisoned: str):
        super().__init__()
        self.poisoned, self.calls = poisoned, 0

    def propose(self, requests):
        self.calls += 1
        if any(r.problem.id == self.poisoned for r in requests):
            raise ConnectionError("server said 503")
        return super().propose(requests)


class BrokenPRM(CountdownOraclePRM):
    def score(self, requests):
        if any(r.problem.id.endswith("3") for r in requests):
            raise TimeoutError("PRM timed out")
        return super().score(requests)


def run(policy, prm, problems):
    runner = Runner(
        CountdownDomain(), policy, prm, make_search("mcts", MCTSConfig(simulations=32)), "mcts", concurrency=8
    )
    return list(runner.run(problems))


def test_a_failing_policy_request_fails_only_its_search():
    problems = generate_problems(12, seed=4)
    healthy = run(SymbolicCountdownPolicy(), CountdownOraclePRM(), problems)
    trees = run(BrokenFor(problems[5].id), CountdownOraclePRM(), problems)
    assert [t.problem_id for t in trees] == [p.id for p in problems]
    assert trees[5].failed == "policy: ConnectionError: server said 503"
    for i, (tree, reference) in enumerate(zip(trees, healthy, strict=True)):
        if i != 5:
            assert tree.failed is None
            assert tree.to_dict()["nodes"] == reference.to_dict()["nodes"]  # the others never noticed


def test_a_failing_prm_fails_its_searches_and_the_run_finishes():
    problems = generate_problems(12, seed=4)
    trees = run(SymbolicCountdownPolicy(), BrokenPRM(), problems)
    failed = [t.problem_id for t in trees if t.failed]
    assert failed == [p.id for p in problems if p.id.endswith("3")]
    assert all(t.failed.startswith("prm: TimeoutError") for t in trees if t.failed)
    assert sum(t.solved for t in trees if not t.failed) > 0


def test_identical_sibling_steps_are_merged_and_counted():
    from metacot.policy.base import Proposal
    from metacot.search.expand import grow
    from metacot.tree import SearchTree

    domain = CountdownDomain()
    problem = generate_problems(1, seed=0)[0]
    tree = SearchTree.with_root(problem.id, domain.problem_to_dict(problem), problem.numbers)
    a, b = problem.numbers[:2]
    step = f"{a} + {b} = {a + b}"
    first = grow(domain, problem, tree, tree.root, [Proposal(step), Proposal(step), Proposal(f"{a} * {b} = {a * b}")])
    assert [c.step for c in first] == [step, f"{a} * {b} = {a * b}"] and first[0].duplicates == 1
    again = grow(domain, problem, tree, tree.root, [Proposal(step)])
    assert again == [] and first[0].duplicates == 2 and tree.compute.proposals == 4 and len(tree.nodes) == 3


class DeadPolicy(SymbolicCountdownPolicy):
    """A server that died after `alive` calls: every later call fails."""

    def __init__(self, alive: int):
        super().__init__()
        self.alive, self.calls = alive, 0

    def propose(self, requests):
        self.calls += 1
        if self.calls > self.alive:
            raise ConnectionError("connection refused")
        return super().propose(requests)


def breaker_run(policy, problems, **settings):
    breaker = Breaker(RunConfig(**settings))
    search = make_search("mcts", MCTSConfig(simulations=8, widening=False))  # the order of calls is the point
    runner = Runner(CountdownDomain(), policy, CountdownOraclePRM(), search, "mcts", concurrency=4, breaker=breaker)
    trees = []
    with pytest.raises(BackendOutage) as stop:
        for tree in runner.run(problems):
            trees.append(tree)
    return trees, str(stop.value)


def test_a_dead_backend_trips_the_breaker_and_finished_trees_come_out_first():
    problems = generate_problems(40, seed=4)
    policy = DeadPolicy(alive=30)
    trees, message = breaker_run(policy, problems, breaker_failures=3)
    assert message == "3 searches in a row failed; the last: policy: ConnectionError: connection refused"
    finished = [t for t in trees if t.failed is None]
    assert finished and [t.failed is not None for t in trees].count(True) == 3
    assert len({t.problem_id for t in trees}) == len(trees) < len(problems)
    order = {p.id: i for i, p in enumerate(problems)}
    assert [order[t.problem_id] for t in trees] == sorted(order[t.problem_id] for t in trees)
    calls = policy.calls
    assert calls < 30 + 3 + 2  # it stopped: no call for the searches still waiting


class FailsTwoInThree(SymbolicCountdownPolicy):
    """Fails every call that holds a problem whose id does not end in a multiple of 3: calls succeed in between."""

    def propose(self, requests):
        if any(int(r.problem.id[-1]) % 3 for r in requests):
            raise ConnectionError("503")
        return super().propose(requests)


def test_a_high_failure_share_trips_the_breaker_even_with_successes_between():
    problems = generate_problems(30, seed=4)
    _, message = breaker_run(FailsTwoInThree(), problems, breaker_failures=0, breaker_window=6, breaker_share=0.5)
    assert re.fullmatch(r"[45] of the last 6 searches failed; the last: policy: ConnectionError: 503", message)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("breaker_failures", -1, "run.breaker_failures: must be 0"),
        ("breaker_window", 0, "run.breaker_window: must be at least 1"),
        ("breaker_share", 0.0, r"run.breaker_share: must be in \(0, 1\]"),
    ],
)
def test_breaker_settings_are_checked_when_the_config_is_built(key, value, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(SynthConfig, {"run": {key: value}}, "config")


def test_transport_settings_are_outside_the_hash_and_still_in_the_config():
    base = SynthConfig()
    base.policy.backend, base.prm.backend = "openai", "http"
    moved = copy.deepcopy(base)
    for section in (moved.policy.openai, moved.prm.http):
        section.base_url, section.api_key_env, section.timeout = "http://127.0.0.1:9", "OTHER", 5.0
        section.max_retries, section.backoff = 9, 2.0
    moved.policy.openai.concurrency = 2
    assert moved.hash() == base.hash() and moved.to_dict() != base.to_dict()
    assert "base_url" not in moved.tree_settings()["policy"]["openai"]
    for section in (moved.policy.openai, moved.prm.http):  # the tokenizer makes the prompts: it counts
        section.tokenizer = "/elsewhere"
        assert moved.hash() != base.hash()
        section.tokenizer = ""
