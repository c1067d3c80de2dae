"""A search in flight in the runner: its tree, its generator, and what it waits for."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from metacot.backends.request import Conditioning
from metacot.search.protocol import Expand, Score, SearchGen
from metacot.tree import Node, SearchTree


@dataclass(slots=True)
class Call:
    """One search's requests sent to a backend that answers each on its own (Submits), and what takes the answers."""

    policy: bool  # sent to the policy, else to the PRM
    futures: list[Future[Any]]
    answer: Callable[[list[Any]], None]


@dataclass(slots=True)
class Job:
    """One search in flight and what it waits for: a round of expansions, or scores, or nothing (finished)."""

    index: int
    problem: Any
    tree: SearchTree
    search: SearchGen
    seed: int
    started: float
    expansions: list[Expand] = field(default_factory=list)  # one yielded Expand is a round of one
    single: bool = False  # the search yielded one Expand: it receives one list of children, not a list of lists
    scoring: list[Node] | None = None
    finished: bool = False
    conditioning: Conditioning | None = None  # what the problem's requests carry (Runner.conditioned)
    call: Call | None = None  # its requests sent to a backend that answers each on its own, until answered

    def wait_for(self, request: Any) -> None:
        """Record what the search asks for next; a TypeError or ValueError for what it may not yield."""
        self.expansions, self.single, self.scoring = [], False, None
        if isinstance(request, Score):
            self.scoring = request.nodes
        elif isinstance(request, Expand):
            self.expansions, self.single = [request], True
        elif isinstance(request, list) and all(isinstance(e, Expand) for e in request):
            if len({id(e.node) for e in request}) < len(request):
                raise ValueError("a round of expansions names the same node twice (it would get the same proposals)")
            self.expansions = request
        else:
            raise TypeError(
                f"a search yielded {request!r}; expected Expand(node, n), a list of Expand, or Score(nodes)"
            )

    def finish(self) -> None:
        self.expansions, self.scoring, self.finished = [], None, True
        self.tree.compute.wall_time = time.perf_counter() - self.started
