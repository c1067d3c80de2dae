"""Searches on Ray: replica actors each run a Runner over chunks of problems; the driver yields trees in order."""

from __future__ import annotations

import dataclasses
import heapq
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from metacot.assemble import build_runner
from metacot.config import SynthConfig
from metacot.distributed.connect import check_cluster, check_fits, connect, holds_a_replica
from metacot.distributed.prm_pool import PooledPRM, PRMReplica
from metacot.problems import make_domain
from metacot.problems.base import Domain
from metacot.progress import note
from metacot.search import RunnerStats
from metacot.search.breaker import BackendOutage, RunStopped
from metacot.tree import SearchTree

log = logging.getLogger("metacot")

REASON_CHARS = 300  # of a Ray error's first line, kept as a failed tree's reason
WAIT_SECONDS = 1.0  # the driver waits for a chunk this long at a time: a signal (Ctrl-C) is handled in between


@dataclass
class ChunkResult:
    """What a replica sends back for one chunk: its trees in problem order, the runner's stats for the chunk,
    and the breaker's message when the backend failed (then the trees finished by then, with gaps)."""

    trees: list[SearchTree]
    stats: RunnerStats
    outage: str | None = None


class ClusterLost(BackendOutage):
    """Replicas that died could not be replaced: the run stops, its finished trees kept."""

    what = "the Ray cluster lost replicas"


class Replica:
    """One replica: a Runner with its own policy and PRM backends (or a proxy to the PRM pool), built from the run's
    config where it runs. Ray makes it an actor (ray.remote); a subclass may stand in for it (tests, benchmarks)."""

    def __init__(self, config: SynthConfig, prm_pool: list[Any] | None = None, slot: int = 0):
        """prm_pool: the PRM replicas to score with (ray.prm_replicas), instead of a PRM of its own; slot: this
        replica's place among the policy replicas (where its turns in the pool start)."""
        domain = make_domain(config.problems)
        prm = PooledPRM(domain, prm_pool, slot) if prm_pool else None
        self.runner = build_runner(config, domain, prm)

    def ready(self) -> bool:
        """Answered once the backends are built: a replica that cannot build them fails the run at its start."""
        return True

    def run(self, problems: list[Any], earlier: dict[str, SearchTree] | None = None) -> ChunkResult:
        """The chunk's trees; earlier: failed searches of its problems searched again (see Runner.run)."""
        self.runner.stats = RunnerStats()
        trees: list[SearchTree] = []
        try:
            trees.extend(self.runner.run(problems, earlier))
        except BackendOutage as outage:
            return ChunkResult(trees, self.runner.stats, str(outage))
        return ChunkResult(trees, self.runner.stats)


@dataclass
class _Chunks:
    """The run's problems cut into chunks, which chunks wait to be sent, and how often each was tried."""

    problems: list[list[Any]]
    waiting: list[int] = field(default_factory=list)  # a heap: the earliest chunk goes first
    tries: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, problems: list[Any], size: int) -> _Chunks:
        chunks = [problems[i : i + size] for i in range(0, len(problems), size)]
        return cls(chunks, list(range(len(chunks))), [0] * len(chunks))


def add_stats(total: RunnerStats, more: RunnerStats) -> None:
    for f in dataclasses.fields(RunnerStats):
        setattr(total, f.name, getattr(total, f.name) + getattr(more, f.name))


def failed_tree(domain: Domain, problem: Any, search: str, reason: str) -> SearchTree:
    """The record of a problem whose search never came back: its root alone, and why (a rerun searches it again)."""
    tree = SearchTree.with_root(problem.id, domain.problem_to_dict(problem), domain.root_state(problem), search)
    tree.failed = reason
    return tree


def reason(error: BaseException) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"ray: {type(error).__name__}: {first[:REASON_CHARS]}"


@contextmanager
def signals_through_ray() -> Iterator[None]:
    """A signal's exception (Interrupted, KeyboardInterrupt) raised by its handler while Ray's C code waits comes
    out as a SystemError caused by it: raise it as itself, so that a Ctrl-C stops the run like a local one."""
    try:
        yield
    except SystemError as error:
        cause = error.__cause__
        if cause is not None and not isinstance(cause, Exception):
            raise cause from None
        raise


class RayRunner:
    """A Runner's interface (run, stats) over Ray replicas: a free replica takes the next chunk (work stealing);
    a replica that dies is replaced and its chunk sent again, up to chunk_attempts tries, after which the chunk's
    problems are yielded as failed trees. Trees come out in problem order, like a Runner's. With ray.prm_replicas,
    a pool of PRM replicas is started first and every replica scores through it (metacot.distributed.prm_pool).
    With `progress`, the start-up's steps (a local cluster, the replicas building their backends) are noted on
    stderr."""

    def __init__(self, config: SynthConfig, domain: Domain, replica: type = Replica, progress: bool = False):
        self.config, self.domain, self.replica, self.progress = config, domain, replica, progress
        self.stats = RunnerStats()
        self.startup = 0.0  # seconds until every replica had built its backends (joining the cluster too)
        self.earlier: dict[str, SearchTree] = {}  # failed searches searched again, sent with their chunk
        import ray

        if not ray.is_initialized():  # an unreachable cluster: a clear error before the run directory is opened
            check_cluster(config.ray.address or "local")

    def activity(self) -> tuple[int, int, int, float | None]:
        """As Runner.activity, from the chunks that came back: the replicas' calls and searches under way are not
        seen here."""
        return 0, self.stats.policy_calls + self.stats.prm_calls, self.stats.generated_tokens, None

    def run(self, problems: Iterable[Any], earlier: Mapping[str, SearchTree] | None = None) -> Iterator[SearchTree]:
        import ray

        self.earlier = dict(earlier or {})
        settings = self.config.ray
        chunks = _Chunks.of(list(problems), settings.chunk)
        if not chunks.problems:
            return
        began = time.perf_counter()
        address = settings.address or "local"
        if not ray.is_initialized():
            joining = "starting a local Ray cluster" if address == "local" else f"joining the Ray cluster at {address}"
            note(f"{joining}…", self.progress)
        started = connect(address)
        count = min(settings.replicas, len(chunks.problems))
        prm_actor: Any = ray.remote(num_cpus=settings.cpus_per_prm_replica, num_gpus=settings.gpus_per_prm_replica)(
            PRMReplica
        )
        actor: Any = ray.remote(num_cpus=settings.cpus_per_replica, num_gpus=settings.gpus_per_replica)(self.replica)
        pool: list[Any] = []
        replicas: list[Any] = []

        def start(slot: int) -> Any:
            return actor.remote(self.config, pool, slot)

        try:
            if started and address == "local":  # a cluster of this machine alone: what it has is all there is
                check_fits(ray.cluster_resources(), settings, count)
            pool.extend(prm_actor.remote(self.config) for _ in range(settings.prm_replicas))
            replicas.extend(start(slot) for slot in range(count))
            note(f"starting {len(pool) + len(replicas)} Ray replicas (each builds its backends)…", self.progress)
            with signals_through_ray():
                self._await_ready(ray, [r.ready.remote() for r in pool + replicas])
                self.startup = time.perf_counter() - began
                yield from self._drive(ray, start, replicas, chunks)
        finally:
            for r in pool + replicas:
                ray.kill(r)
            if started:
                ray.shutdown()

    def _await_ready(self, ray: Any, calls: list[Any]) -> None:
        """Wait for the replicas' ready() calls: RunStopped when one fails, or when some have not answered within
        ray.ready_timeout (a cluster without room for them would keep them waiting forever)."""
        deadline = time.monotonic() + self.config.ray.ready_timeout
        while calls:
            done, calls = ray.wait(calls, num_returns=len(calls), timeout=WAIT_SECONDS)
            try:
                ray.get(done)
            except ray.exceptions.RayError as error:
                raise RunStopped(f"the Ray replicas could not build their backends ({reason(error)})") from error
            if calls and time.monotonic() > deadline:
                raise RunStopped(
                    f"{len(calls)} Ray replicas were not ready within {self.config.ray.ready_timeout:g} s "
                    "(--ready-timeout): has the cluster room for them?"
                )

    def _drive(
        self, ray: Any, start: Callable[[int], Any], replicas: list[Any], chunks: _Chunks
    ) -> Iterator[SearchTree]:
        """Send chunks to free replicas, at most `ahead` per replica past the oldest unfinished one; yield each
        chunk's trees once every earlier chunk's are out. A dead replica is replaced in `replicas` by start(its
        slot) (run kills what it holds at the end); ClusterLost, after the trees finished by then, when a
        replacement cannot start (see _stalled)."""
        window = self.config.ray.ahead * len(replicas)
        running: dict[Any, tuple[int, int]] = {}  # a chunk's result -> (the replica's slot, the chunk)
        starting: dict[Any, float] = {}  # a replacement's ready() -> the monotonic time it must answer by
        finished: dict[int, list[SearchTree]] = {}
        next_out = 0
        try:
            while next_out < len(chunks.problems):
                free = sorted(set(range(len(replicas))) - {slot for slot, _ in running.values()}, reverse=True)
                while free and chunks.waiting and chunks.waiting[0] < next_out + window:
                    slot, index = free.pop(), heapq.heappop(chunks.waiting)
                    chunks.tries[index] += 1
                    chunk = chunks.problems[index]
                    earlier = {p.id: self.earlier[p.id] for p in chunk if p.id in self.earlier}
                    running[replicas[slot].run.remote(chunk, earlier)] = (slot, index)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_SECONDS)
                if starting and (why := self._stalled(ray, starting)):
                    raise ClusterLost(why)
                if ready:
                    slot, index = running.pop(ready[0])
                    if self._came_back(ray, ready[0], index, chunks, finished):
                        replicas[slot] = start(slot)  # the replica died: a new one takes its place
                        starting[replicas[slot].ready.remote()] = time.monotonic() + self.config.ray.ready_timeout
                while next_out in finished:
                    yield from finished.pop(next_out)
                    next_out += 1
        except BackendOutage:  # the trees finished by then are kept, with gaps a rerun fills
            yield from (tree for i in sorted(finished) for tree in finished[i])
            raise

    def _came_back(
        self, ray: Any, result: Any, index: int, chunks: _Chunks, finished: dict[int, list[SearchTree]]
    ) -> bool:
        """Take in a chunk's result, or send the chunk again when it failed; whether its replica died. A replica's
        backend outage raises BackendOutage."""
        try:
            chunk: ChunkResult = ray.get(result)
        except ray.exceptions.RayActorError as error:
            self._retry(chunks, index, error, finished)
            return True
        except ray.exceptions.RayError as error:  # the chunk raised (a bug, or a backend crash the runner did not
            self._retry(chunks, index, error, finished)  # catch): the replica lives on
            return False
        add_stats(self.stats, chunk.stats)
        finished[index] = chunk.trees
        if chunk.outage is not None:
            raise BackendOutage(chunk.outage)
        return False

    def _stalled(self, ray: Any, starting: dict[Any, float]) -> str | None:
        """Why the run cannot go on (None: it can) while replacement replicas start (`starting`, whose answered
        calls are dropped: one that failed fails its chunk, which is tried again): no live node can hold a
        replica (the node died), or one has not answered within ray.ready_timeout (no room for it)."""
        done, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0)
        for call in done:
            del starting[call]
        if not starting:
            return None
        if not holds_a_replica(ray.nodes(), self.config.ray):
            return "no live node has room for a replica that died: did its node die?"
        if time.monotonic() > min(starting.values()):
            return f"a replica that died was not replaced within {self.config.ray.ready_timeout:g} s (--ready-timeout)"
        return None

    def _retry(self, chunks: _Chunks, index: int, error: BaseException, finished: dict[int, list[SearchTree]]) -> None:
        """Send a chunk whose replica failed again, or after its last try record its problems as failed."""
        why = reason(error)
        if chunks.tries[index] < self.config.ray.chunk_attempts:
            log.warning("chunk %d (try %d) failed, sending it again: %s", index, chunks.tries[index], why)
            heapq.heappush(chunks.waiting, index)
            return
        log.warning("chunk %d failed %d times, its problems are recorded failed: %s", index, chunks.tries[index], why)
        search = self.config.search.strategy
        finished[index] = [failed_tree(self.domain, p, search, why) for p in chunks.problems[index]]
