"""Requests flow per search: to a backend that answers each request on its own (Submits), a slow request holds up
only the search that waits for it, and the trees are the same as when every answer comes at once."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from metacot.backends.request import Submits
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems.countdown import CountdownDomain, generate_problems
from metacot.search import MCTSConfig, Runner, make_search

PROBLEMS = generate_problems(8, seed=3)


class LatePolicy(SymbolicCountdownPolicy):
    """The symbolic policy's proposals (made at once, in the caller's thread), each delivered after `delay(request)`
    seconds, or, for `held`'s first request, once `release` is set (at most 30 s)."""

    def __init__(self, delay=lambda request: 0.0, held: str | None = None):
        super().__init__()
        self.delay, self.held = delay, held
        self.release = threading.Event()
        self.released: bool | None = None  # whether the held request went on by `release`, not by the time limit
        self.pool = ThreadPoolExecutor(max_workers=16)

    def submit(self, requests) -> list[Future]:
        return [self.pool.submit(self._late, r, super(LatePolicy, self).propose([r])[0]) for r in requests]

    def _late(self, request, proposals):
        if request.problem.id == self.held and self.released is None:
            self.released = self.release.wait(30)
        else:
            time.sleep(self.delay(request))
        return proposals


def run(policy, concurrency: int = 8):
    search = make_search("mcts", MCTSConfig(simulations=24))
    runner = Runner(CountdownDomain(), policy, CountdownOraclePRM(), search, "mcts", seed=5, concurrency=concurrency)
    return runner.run(PROBLEMS)


def nodes(trees) -> list:
    return [tree.to_dict()["nodes"] for tree in trees]


def test_a_held_request_does_not_stop_the_other_searches():
    policy = LatePolicy(held=PROBLEMS[-1].id)
    assert isinstance(policy, Submits)
    trees = []
    for tree in run(policy):
        trees.append(tree)
        if len(trees) == len(PROBLEMS) - 1:  # every other search finished while the last one's request was held
            policy.release.set()
    assert policy.released is True
    assert nodes(trees) == nodes(run(SymbolicCountdownPolicy()))


def test_answers_in_any_order_make_the_same_trees():
    jitter = random.Random(0)
    policy = LatePolicy(delay=lambda request: jitter.random() * 0.004)
    for concurrency in (3, 8):
        assert nodes(run(policy, concurrency)) == nodes(run(SymbolicCountdownPolicy(), concurrency))
