"""The runner: keeps many searches in flight and answers all their pending requests with one backend call per kind."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from metacot.policy.base import ExpandRequest, Policy, Proposal
from metacot.prm.base import RewardModel, ScoreRequest
from metacot.problems.base import Domain, StepOutcome
from metacot.seeding import mix, problem_seed
from metacot.tree import Node, SearchTree


@dataclass(slots=True)
class Expand:
    """A search asks for up to n children of node; it receives the list of new child nodes.

    A search may also yield a list of Expand requests for distinct nodes (a round of expansions, e.g. N
    best-of-N chains advancing in lockstep); it then receives one list of new children per request, in order.
    """

    node: Node
    n: int


@dataclass(slots=True)
class Score:
    """A search asks for PRM scores of nodes; it receives the scores (also stored on the nodes)."""

    nodes: list[Node]


Request = Expand | list[Expand] | Score
Search = Callable[[SearchTree], Generator[Request, Any, None]]

log = logging.getLogger("metacot")

TRUNCATED = "the step was cut off at the token limit"


@dataclass
class RunnerStats:
    """How the runner used the backends: call counts, batch sizes, time spent inside them."""

    rounds: int = 0
    in_flight: int = 0  # searches in flight, summed over rounds
    policy_calls: int = 0
    policy_requests: int = 0
    prm_calls: int = 0
    prm_requests: int = 0
    policy_time: float = 0.0
    prm_time: float = 0.0

    @property
    def mean_in_flight(self) -> float:
        return self.in_flight / self.rounds if self.rounds else 0.0

    @property
    def mean_policy_batch(self) -> float:
        return self.policy_requests / self.policy_calls if self.policy_calls else 0.0

    @property
    def mean_prm_batch(self) -> float:
        return self.prm_requests / self.prm_calls if self.prm_calls else 0.0


@dataclass(slots=True)
class _Job:
    index: int
    problem: Any
    tree: SearchTree
    search: Generator[Request, Any, None]
    seed: int
    started: float
    request: Request | None = None


def grow(domain: Domain, problem: Any, tree: SearchTree, node: Node, proposals: list[Proposal]) -> list[Node]:
    """Add one child per distinct proposal, each checked by the domain: illegal or truncated steps become dead
    nodes. A step identical to a sibling's is merged into it (counted in its `duplicates`), not searched twice."""
    node.expanded = True
    compute = tree.compute
    compute.policy_calls += 1
    compute.proposals += len(proposals)
    siblings = {tree.nodes[i].step: tree.nodes[i] for i in node.children}
    children = []
    for p in proposals:
        compute.generated_tokens += p.tokens
        if p.text in siblings:
            siblings[p.text].duplicates += 1
            continue
        if p.finish_reason == "length":
            outcome = StepOutcome(state=None, terminal=True, correct=False, error=TRUNCATED)
        else:
            outcome = domain.apply_step(problem, node.state, p.text)
        child = tree.add_child(
            node,
            p.text,
            state=outcome.state,
            tokens=p.tokens,
            logprob=p.logprob,
            finish_reason=p.finish_reason,
            terminal=outcome.terminal,
            correct=outcome.correct,
            error=outcome.error,
        )
        siblings[p.text] = child
        children.append(child)
    return children


class Runner:
    """Drives one search per problem, `concurrency` at a time, and yields finished trees in problem order."""

    def __init__(
        self,
        domain: Domain,
        policy: Policy,
        prm: RewardModel,
        search: Search,
        search_name: str,
        seed: int = 0,
        concurrency: int = 64,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.domain, self.policy, self.prm = domain, policy, prm
        self.search, self.search_name = search, search_name
        self.seed, self.concurrency = seed, concurrency
        self.stats = RunnerStats()

    def run(self, problems: Iterable[Any]) -> Iterator[SearchTree]:
        queue = enumerate(problems)
        jobs: list[_Job] = []
        finished: dict[int, SearchTree] = {}
        next_out = 0
        more = True
        while more or jobs:
            while more and len(jobs) < self.concurrency:
                item = next(queue, None)
                if item is None:
                    more = False
                else:
                    jobs.append(self._start(*item))
            self.stats.rounds += 1
            self.stats.in_flight += len(jobs)
            self._expand([j for j in jobs if type(j.request) is Expand or type(j.request) is list])
            self._score([j for j in jobs if type(j.request) is Score])
            for job in jobs:
                if job.request is None:
                    finished[job.index] = job.tree
            jobs = [j for j in jobs if j.request is not None]
            while next_out in finished:
                yield finished.pop(next_out)
                next_out += 1

    def _start(self, index: int, problem: Any) -> _Job:
        domain = self.domain
        tree = SearchTree.with_root(
            problem.id, domain.problem_to_dict(problem), domain.root_state(problem), self.search_name
        )
        job = _Job(index, problem, tree, self.search(tree), problem_seed(self.seed, problem.id), time.perf_counter())
        self._advance(job, None)
        return job

    def _advance(self, job: _Job, answer: Any) -> None:
        while True:
            try:
                request = job.search.send(answer)
            except StopIteration:
                job.request = None
                job.tree.compute.wall_time = time.perf_counter() - job.started
                return
            if type(request) is list and not request:  # an empty round of expansions: nothing to ask
                answer = []
                continue
            _check(request)
            job.request = request
            return

    def _expand(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        owners = [j for j in jobs for _ in _expansions(j.request)]
        requests = [
            ExpandRequest(problem=j.problem, tree=j.tree, node=e.node, n=e.n, seed=mix(j.seed, e.node.id, 0))
            for j in jobs
            for e in _expansions(j.request)
        ]
        start = time.perf_counter()
        try:
            proposals = self.policy.propose(requests)
        except Exception as error:
            self._isolate(jobs, self._expand, "policy", error)
            return
        self.stats.policy_time += time.perf_counter() - start
        self.stats.policy_calls += 1
        self.stats.policy_requests += len(requests)
        grown = [
            grow(self.domain, job.problem, job.tree, request.node, props[: request.n])
            for job, request, props in zip(owners, requests, proposals, strict=True)
        ]
        offset = 0
        for job in jobs:  # one list of children per Expand; a round of expansions gets a list of those lists
            if type(job.request) is Expand:
                answer, offset = grown[offset], offset + 1
            else:
                answer, offset = grown[offset : offset + len(job.request)], offset + len(job.request)
            self._advance(job, answer)

    def _score(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        requests = [
            ScoreRequest(problem=j.problem, tree=j.tree, node=node, seed=mix(j.seed, node.id, 1))
            for j in jobs
            for node in j.request.nodes
        ]
        start = time.perf_counter()
        try:
            scores = self.prm.score(requests)
        except Exception as error:
            self._isolate(jobs, self._score, "prm", error)
            return
        self.stats.prm_time += time.perf_counter() - start
        self.stats.prm_calls += 1
        self.stats.prm_requests += len(requests)
        offset = 0
        for job in jobs:
            nodes = job.request.nodes
            mine = scores[offset : offset + len(nodes)]
            offset += len(nodes)
            for node, score in zip(nodes, mine, strict=True):
                node.score = score
            job.tree.compute.prm_calls += 1
            job.tree.compute.scored_nodes += len(nodes)
            self._advance(job, mine)

    def _isolate(self, jobs: list[_Job], call: Callable[[list[_Job]], None], backend: str, error: Exception) -> None:
        """After a backend call failed (its own retries spent), ask for each search alone: the searches whose
        request fails again are recorded as failed, with the reason, and the run goes on."""
        if len(jobs) > 1:
            for job in jobs:
                call([job])
            return
        job = jobs[0]
        job.tree.failed = f"{backend}: {type(error).__name__}: {error}"
        log.warning("problem %s failed: %s", job.tree.problem_id, job.tree.failed)
        job.search.close()
        job.request = None
        job.tree.compute.wall_time = time.perf_counter() - job.started


def _expansions(request: Expand | list[Expand]) -> list[Expand]:
    return [request] if type(request) is Expand else request


def _check(request: Any) -> None:
    """A TypeError for anything a search may not yield (the runner would otherwise wait on it forever)."""
    if type(request) is Expand or type(request) is Score:
        return
    if type(request) is list and all(type(e) is Expand for e in request):
        if len({id(e.node) for e in request}) < len(request):
            raise ValueError("a round of expansions names the same node twice (it would get the same proposals)")
        return
    raise TypeError(f"a search yielded {request!r}; expected Expand(node, n), a list of Expand, or Score(nodes)")
