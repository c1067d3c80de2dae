"""The runner: keeps many searches in flight and answers their requests, in one call per kind or as each comes."""

from __future__ import annotations

import copy
import functools
import gc
import itertools
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from metacot.backends.request import Conditioning, Submits
from metacot.policy.base import ExpandRequest, Policy, Proposal
from metacot.policy.cite import cited_proposals
from metacot.prm.base import RewardModel, ScoreRequest
from metacot.problems.base import Domain
from metacot.search.breaker import BackendOutage, Breaker
from metacot.search.budget import Budget
from metacot.search.expand import grow, mark_expanded, settled
from metacot.search.jobs import Call, Job
from metacot.search.protocol import Expand, Search, StateKeys
from metacot.seeding import mix, problem_seed
from metacot.tree import Node, SearchTree

log = logging.getLogger("metacot")

# Allocations between two collections of the youngest generation while searches run (Python's default: 700). The
# trees in flight are many small objects that live until written, and few cycles are made: at the default, the
# collector went over them again and again, about 10% of the engine's time (bench engine); at 50,000, each of its
# collections still went over some 50k young objects, 0.15 s of a 5.5 s bench (3%); at 200,000, 0.01 s.
YOUNG_THRESHOLD = 200_000


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
    # wall seconds inside run(): drawing problems, searching, the backends; not the caller's work on the trees
    search_time: float = 0.0
    missing_proposals: int = 0  # proposals asked for but not returned (a server that sent fewer choices than n);
    # not counted for a policy that enumerates its steps (`enumerates = True`), which has no more to give
    generated_tokens: int = 0  # of the finished trees: their proposals' and rollouts' tokens

    @property
    def mean_in_flight(self) -> float:
        return self.in_flight / self.rounds if self.rounds else 0.0

    @property
    def mean_policy_batch(self) -> float:
        return self.policy_requests / self.policy_calls if self.policy_calls else 0.0

    @property
    def mean_prm_batch(self) -> float:
        return self.prm_requests / self.prm_calls if self.prm_calls else 0.0


def expansion_seed(seed: int, node: Node) -> int:
    """The policy's seed for the next expansion of a node: the k-th expansion (widening) mixes in k, so it can
    propose new steps; the first keeps the seed it always had."""
    k = node.reexpanded + 1 if node.expanded else 0
    return mix(seed, node.id, 0, k) if k else mix(seed, node.id, 0)


class Runner:
    """Drives one search per problem, `concurrency` at a time, and yields finished trees in problem order.

    With the search's budget, the rollout PRM generates no more completions than its `rollouts` limit allows.
    With a breaker, a run whose backend keeps failing stops: every tree finished by then is yielded (in problem
    order, with gaps where searches were still in flight), then the breaker's BackendOutage is raised.
    """

    def __init__(
        self,
        domain: Domain,
        policy: Policy,
        prm: RewardModel,
        search: Search,
        search_name: str,
        seed: int = 0,
        concurrency: int = 64,
        breaker: Breaker | None = None,
        budget: Budget | None = None,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.domain, self.policy, self.prm = domain, policy, prm
        # A policy that enumerates its steps proposes fewer when there are no more: only the others' are missing.
        self.policy_enumerates = bool(getattr(policy, "enumerates", False))
        # A PRM may say it never reads a request's seed (`reads_seed = False`): its requests get 0, not a mix per node.
        self.prm_reads_seed = bool(getattr(prm, "reads_seed", True))
        self.search, self.search_name = search, search_name
        self.seed, self.concurrency = seed, concurrency
        self.breaker = breaker
        self.budget = budget  # the searches' own: the repairs of slips (search.expand.grow) stay within it
        self.rollout_limit = None if budget is None else budget.rollouts  # told to the PRM with each Score request
        self.stats = RunnerStats()
        self.conditioning: Mapping[str, Conditioning] = {}  # problem id -> what its proposals are conditioned on
        self.in_call = 0  # requests sent to a backend and not yet answered
        self.live: list[Job] = []  # the searches in flight

    def activity(self) -> tuple[int, int, int, float | None]:
        """For a progress display, read from another thread while the run goes on: the requests sent to a backend and
        not yet answered, the backend calls made, the tokens generated (proposals' and rollouts', the searches in
        flight's included), and the share of its budget the average search in flight has spent (None: no limit)."""
        trees = [job.tree for job in list(self.live) if not job.finished]
        tokens = self.stats.generated_tokens + sum(_tokens(tree) for tree in trees)
        shares = [] if self.budget is None else [self.budget.share(tree.compute) for tree in trees]
        known = [share for share in shares if share is not None]
        spent = sum(known) / len(known) if known else None
        return self.in_call, self.stats.policy_calls + self.stats.prm_calls, tokens, spent

    def conditioned(self, conditioning: Mapping[str, Conditioning]) -> Runner:
        """A runner on the same backends (and stats) whose requests for each problem carry its conditioning (problem
        id -> what its proposals are conditioned on), which its tree records."""
        runner = copy.copy(self)
        runner.conditioning = conditioning
        return runner

    def reseeded(self, seed: int) -> Runner:
        """A runner on the same backends (and stats) whose searches draw their random choices from another seed."""
        runner = copy.copy(self)
        runner.seed = seed
        return runner

    def run(self, problems: Iterable[Any], earlier: Mapping[str, SearchTree] | None = None) -> Iterator[SearchTree]:
        """earlier: trees of earlier searches of some problems, by id (failed searches searched again): the new
        search of the same problem starts with their answer verdicts, and decides none of them again."""
        with _fewer_collections():
            searching = self._run(problems, earlier or {})
            try:
                while True:
                    started = time.perf_counter()
                    tree = next(searching, None)
                    self.stats.search_time += time.perf_counter() - started
                    if tree is None:
                        return
                    yield tree
            finally:  # stopped, or the backend is out: the requests not sent yet are never sent
                for future in (f for job in self.live if job.call is not None for f in job.call.futures):
                    future.cancel()

    def _run(self, problems: Iterable[Any], earlier: Mapping[str, SearchTree]) -> Iterator[SearchTree]:
        queue = enumerate(problems)
        jobs: list[Job] = []
        self.live = jobs
        finished: dict[int, SearchTree] = {}
        next_out = 0
        more = True
        while more or jobs:
            while more and len(jobs) < self.concurrency:
                item = next(queue, None)
                if item is None:
                    more = False
                else:
                    index, problem = item
                    jobs.append(self._start(index, problem, earlier.get(problem.id)))
            self.stats.rounds += 1
            self.stats.in_flight += len(jobs)
            try:
                self._expand([j for j in jobs if j.expansions and j.call is None])
                self._score([j for j in jobs if j.scoring is not None and j.call is None])  # just got children
                # wait for an answer only when every search waits for one (none has a request to send, none finished)
                self._collect(jobs, block=all(j.call is not None for j in jobs))
            except BackendOutage:
                finished.update((job.index, job.tree) for job in jobs if job.finished)
                yield from (finished[index] for index in sorted(finished))
                raise
            for job in jobs:
                if job.finished:
                    finished[job.index] = job.tree
                    self.stats.generated_tokens += _tokens(job.tree)
                    if self.breaker is not None and job.tree.failed is None:
                        self.breaker.search_ended(None)
            jobs = self.live = [j for j in jobs if not j.finished]
            while next_out in finished:
                yield finished.pop(next_out)
                next_out += 1

    def _start(self, index: int, problem: Any, earlier: SearchTree | None) -> Job:
        domain = self.domain
        tree = SearchTree.with_root(
            problem.id, domain.problem_to_dict(problem), domain.root_state(problem), self.search_name
        )
        if earlier is not None and earlier.problem == tree.problem:  # the same gold answer: the same verdicts
            tree.verdicts.update(earlier.verdicts)
        job = Job(index, problem, tree, self.search(tree), problem_seed(self.seed, problem.id), time.perf_counter())
        job.conditioning = self.conditioning.get(problem.id)
        if job.conditioning is not None:
            tree.behaviors = list(job.conditioning.behaviors)
        self._advance(job, None)
        return job

    def _advance(self, job: Job, answer: Any) -> None:
        """Send the answer in and record the search's next request (an empty round is answered at once)."""
        while True:
            try:
                request = job.search.send(answer)
            except StopIteration:
                job.finish()
                return
            if isinstance(request, list) and not request:  # an empty round of expansions: nothing to ask
                answer = []
                continue
            if isinstance(request, StateKeys):  # the domain's answer: no backend to wait for
                answer = [self._position(job.tree, n) for n in request.nodes]
                continue
            job.wait_for(request)
            return

    def _position(self, tree: SearchTree, node: Node) -> Hashable | None:
        """The node's position: none for a dead step, or one reached through a wrong result taken at face value
        (notice = "when-found": the numbers are not what they claim, and a correct path merged into it would lose
        the solutions below it)."""
        if node.state is None or tree.first_slip(node.id) is not None:
            return None
        return self.domain.state_key(node.state)

    def _expand(self, jobs: list[Job]) -> None:
        """One policy call for every expansion the jobs wait for (or, to a policy that answers each request on its
        own, each job's); each job receives its children."""
        # a node built on a step found wrong gets no children, and costs no policy call
        asks = [[e for e in job.expansions if not settled(job.tree, e.node)] for job in jobs]
        # (problem, tree, node, seed, n, rollout_limit, conditioning), positional: built by keyword, a request costs
        # twice as much
        requests = [
            [ExpandRequest(job.problem, job.tree, e.node, expansion_seed(job.seed, e.node), e.n, None, job.conditioning)
             for e in mine]
            for job, mine in zip(jobs, asks, strict=True)
        ]
        answers = [functools.partial(self._grown, job, mine) for job, mine in zip(jobs, asks, strict=True)]
        self._send(True, jobs, requests, answers)

    def _grown(self, job: Job, asks: list[Expand], proposals: list[list[Proposal]]) -> None:
        """The job's children from the proposals for its expansions that were asked for (`asks`); an expansion that
        was not asked for gets none, and its node counts as expanded."""
        later, made = sum(e.n for e in asks), 0  # what the round may still make, and has made, to be scored together
        grown: dict[int, list[Node]] = {}  # id of an Expand -> the children it gets
        for expand, props in zip(asks, proposals, strict=True):
            if not self.policy_enumerates:
                self.stats.missing_proposals += max(0, expand.n - len(props))
            later -= expand.n
            props = cited_proposals(props[: expand.n], job.conditioning)
            grown[id(expand)] = grow(self.domain, job.problem, job.tree, expand.node, props, self.budget, (later, made))
            made += len(grown[id(expand)])
        for expand in job.expansions:
            if id(expand) not in grown:
                mark_expanded(job.tree, expand.node)
        children = [grown.get(id(expand), []) for expand in job.expansions]
        self._advance(job, children[0] if job.single else children)

    def _score(self, jobs: list[Job]) -> None:
        """One PRM call for every node the jobs wait to have scored (or, to a PRM that answers each request on its
        own, each job's); each job receives its scores."""
        seeded, limit = self.prm_reads_seed, self.rollout_limit
        requests = [  # (problem, tree, node, seed, n = 1, rollout_limit, conditioning), positional as in _expand
            [ScoreRequest(job.problem, job.tree, node, mix(job.seed, node.id, 1) if seeded else 0, 1, limit,
                          job.conditioning)
             for node in job.scoring or ()]
            for job in jobs
        ]
        self._send(False, jobs, requests, [functools.partial(self._scored, job) for job in jobs])

    def _scored(self, job: Job, scores: list[float]) -> None:
        for node, score in zip(job.scoring or (), scores, strict=True):
            node.score = score
        job.tree.compute.prm_calls += 1
        job.tree.compute.scored_nodes += len(scores)
        self._advance(job, scores)

    def _send(
        self, policy: bool, jobs: list[Job], requests: list[list[Any]], answers: Sequence[Callable[[list[Any]], None]]
    ) -> None:
        """Each job's requests to the policy (else the PRM), and their answers (one per request) to the job's
        `answers` callable: a job that asks nothing gets its (empty) answer at once; to a backend that answers each
        request on its own, each job's requests are sent now and answered when they are in (_collect); to any
        other, all in one call."""
        if not any(requests):
            for answer in answers:
                answer([])
            return
        model = self.policy if policy else self.prm
        if isinstance(model, Submits):
            for job, mine, answer in zip(jobs, requests, answers, strict=True):
                if not mine:
                    answer([])
                    continue
                try:
                    job.call = Call(policy, model.submit(mine), answer)
                except Exception as error:  # not even sent (its prompt could not be built)
                    self._fail(job, policy, error)
                    continue
                self._account(policy, len(mine), 0.0)
                self.in_call += len(mine)
            return
        sent = [request for mine in requests for request in mine]
        start = time.perf_counter()
        self.in_call += len(sent)
        try:
            replies = iter((self.policy.propose if policy else self.prm.score)(sent))
        except Exception as error:  # its retries spent: each search asks alone; one whose request fails again failed
            if len(jobs) == 1:
                self._fail(jobs[0], policy, error)
            else:
                for job, mine, answer in zip(jobs, requests, answers, strict=True):
                    self._send(policy, [job], [mine], [answer])
            return
        finally:
            self.in_call -= len(sent)
        self._succeeded()
        self._account(policy, len(sent), time.perf_counter() - start)
        for mine, answer in zip(requests, answers, strict=True):
            answer(list(itertools.islice(replies, len(mine))))

    def _collect(self, jobs: list[Job], block: bool) -> None:
        """Hand the jobs whose sent requests are all answered their answers; with `block`, wait for at least one."""
        waiting = [f for job in jobs if job.call is not None for f in job.call.futures]
        if not waiting:
            return
        start = time.perf_counter()
        wait(waiting, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        waited = time.perf_counter() - start
        for job in jobs:
            call = job.call
            if call is None or not all(f.done() for f in call.futures):
                continue
            self._account(call.policy, 0, waited)
            waited, job.call = 0.0, None
            self.in_call -= len(call.futures)
            try:
                replies = [future.result() for future in call.futures]
            except Exception as error:
                self._fail(job, call.policy, error)
                continue
            self._succeeded()
            call.answer(replies)

    def _account(self, policy: bool, requests: int, seconds: float) -> None:
        """A call to the policy (else the PRM) of that many requests (none: more time spent waiting for one) that
        took that long."""
        s = self.stats
        if policy:
            s.policy_calls, s.policy_requests, s.policy_time = (
                s.policy_calls + bool(requests), s.policy_requests + requests, s.policy_time + seconds
            )
        else:
            s.prm_calls, s.prm_requests, s.prm_time = (
                s.prm_calls + bool(requests), s.prm_requests + requests, s.prm_time + seconds
            )

    def _fail(self, job: Job, policy: bool, error: Exception) -> None:
        """The search failed: its request to the policy (else the PRM) failed, alone, with its retries spent."""
        job.tree.failed = f"{'policy' if policy else 'prm'}: {type(error).__name__}: {error}"
        log.warning("problem %s failed: %s", job.tree.problem_id, job.tree.failed)
        job.search.close()
        job.finish()
        if self.breaker is not None:
            self.breaker.search_ended(job.tree.failed)

    def _succeeded(self) -> None:
        if self.breaker is not None:
            self.breaker.call_succeeded()


def _tokens(tree: SearchTree) -> int:
    return tree.compute.generated_tokens + tree.compute.rollout_tokens


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cyclic garbage collector runs less often while any runner runs (YOUNG_THRESHOLD), and as before
    once none does (runs may overlap and end in any order)."""
    if not _collecting["runs"]:
        _collecting["saved"] = gc.get_threshold()
        young, *older = _collecting["saved"]
        gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)
    _collecting["runs"] += 1
    try:
        yield
    finally:
        _collecting["runs"] -= 1
        if not _collecting["runs"]:
            gc.set_threshold(*_collecting["saved"])


_collecting: dict[str, Any] = {"runs": 0, "saved": None}  # runners running, and the thresholds before the first
