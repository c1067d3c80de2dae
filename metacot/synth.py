"""Synthesis: build problems and backends from a config, run the searches, write trees, traces and stats."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metacot.assemble import build_runner
from metacot.backends.secrets import safe_settings
from metacot.conditioning import Conditioner
from metacot.config import ConfigError, SynthConfig
from metacot.linearize import LinearizeConfig, resolve_formats
from metacot.outputs.ids import ProblemIds
from metacot.outputs.rewrite import rewriting
from metacot.outputs.rundir import ProblemSource, RunDir
from metacot.outputs.traces import TraceWriter
from metacot.problems import ProblemStream, content_digest, make_domain, problem_digests
from metacot.problems.base import Domain
from metacot.progress import progress_bar, ticking
from metacot.search import Runner, RunnerStats
from metacot.search.breaker import BackendOutage, RunStopped
from metacot.stop import Interrupted, requests_in_flight
from metacot.tree import SearchTree

if TYPE_CHECKING:
    from metacot.distributed.replicas import RayRunner

log = logging.getLogger("metacot")


@dataclass
class SynthResult:
    """What one call to synth did: the run's stats plus how this process used the backends."""

    stats: dict
    searched: int  # problems searched by this call (a resumed run skips finished ones)
    retried: int  # of them, problems whose earlier search had failed
    nodes: int  # nodes created by this call
    seconds: float  # searching, linearizing and writing, after the problems were built
    resume_seconds: float = 0.0  # of them, before the first search: opening the run directory, catching traces up
    runner: RunnerStats = field(default_factory=RunnerStats)


def make_runner(config: SynthConfig, domain: Domain, progress: bool = False) -> Runner | RayRunner:
    """The config's runner: here, or with a [ray] address on Ray replicas (which build the backends, not this
    process; with `progress`, their start-up is noted on stderr)."""
    if config.ray.address is None:
        return build_runner(config, domain)
    from metacot.distributed.prm_pool import check_prm_pool
    from metacot.distributed.replicas import RayRunner

    check_prm_pool(config.ray, config.prm.backend)
    return RayRunner(config, domain, progress=progress)


def conditioned(
    runner: Runner | RayRunner,
    domain: Domain,
    problems: Iterable[Any],
    config: SynthConfig,
    condition: Conditioner | None,
) -> Runner | RayRunner:
    """The runner, or with [behaviors] a handbook, one whose requests carry each problem's conditioning, which
    `condition` makes from its retrieved behaviours."""
    if config.behaviors.handbook is None:
        return runner
    if not isinstance(runner, Runner):
        raise ConfigError("behaviors.handbook: behaviour-conditioned search does not run on Ray replicas yet")
    if condition is None:
        raise ConfigError("behaviors.handbook: this caller of synth cannot condition a search on behaviours")
    return runner.conditioned(condition(domain, list(problems), config.behaviors))


def failed_trees(run_dir: RunDir, ids: Set[str]) -> dict[str, SearchTree]:
    """The saved failed searches of these problems, by id: searched again, they reuse their answer verdicts. The
    shards' indexes say where each problem's latest record lies; only those records are read."""
    latest = {e.problem_id: e for e in run_dir.entries() if e.problem_id in ids} if ids else {}
    return {pid: run_dir.tree_at(e.place) for pid, e in latest.items() if e.failed}


def problem_source(config: SynthConfig, problems: Iterable[Any]) -> ProblemSource | None:
    """The run's problems file, known by its content (its path may be given another way); None without a file."""
    if config.problems.file is None:
        return None
    return ProblemSource(str(Path(config.problems.file).resolve()), problem_digests(problems))


def open_run(
    run_dir: RunDir, config: SynthConfig, problems: Iterable[Any], retry_failed: bool = True
) -> tuple[ProblemIds, int]:
    """Create or resume the run directory for this config and these problems (RunDir.open): the ids not to search,
    and how many problems there are (a file's are read once here, for their digests; generated ones are not made)."""
    source = problem_source(config, problems)
    if source is not None:
        count = len(source.digests)
    elif isinstance(problems, ProblemStream):
        count = problems.count()
    else:
        count = sum(1 for _ in problems)
    if not count:  # a file or dataset with none (an empty file, /dev/null): nothing a run could do
        raise ConfigError(f"{config.problems.file or config.problems.dataset}: no problems in it")
    digest = None if source is None else content_digest(source.digests)
    settings = config.tree_settings(digest)
    # the manifest records the settings with no URL's credentials (the hash is of the settings as given)
    record, settings = safe_settings(config.to_dict()), safe_settings(settings)
    done = run_dir.open(record, config.hash(digest), config.seed, settings, retry_failed, source)
    return done, count


def synth(
    config: SynthConfig,
    progress: bool = True,
    retry_failed: bool = True,
    runner: Runner | RayRunner | None = None,
    condition: Conditioner | None = None,
) -> SynthResult:
    """Search every problem not yet finished in config.out (and, with retry_failed, those whose search failed),
    writing each tree and its traces as it finishes. RunStopped when the breaker stops the run: the trees
    finished by then are written, with their traces and stats. `runner`: one to use instead of the config's
    (a stand-in built by a test or a benchmark). `condition`: what makes each problem's conditioning when
    [behaviors] names a handbook (metacot.behaviors.handbook.bci.condition, which the caller passes in)."""
    domain = make_domain(config.problems)
    resolve_formats(config.linearize.formats, domain)
    problems = ProblemStream(config.problems, config.seed)  # made as the searches start, never all held
    runner = conditioned(runner or make_runner(config, domain, progress), domain, problems, config, condition)
    started = time.perf_counter()
    nodes, resumed = 0, 0.0
    outage: BackendOutage | None = None
    with RunDir(config.out) as run_dir:
        done, total = open_run(run_dir, config, problems, retry_failed)
        retry = run_dir.failed - done  # a run's records are of its own problems: these are in `problems`
        searched = total - len(done)
        todo = problems.todo(done, run_dir.draws(), run_dir.add_draw)  # finished ones not made again
        bar = progress_bar(show=progress, total=total, initial=total - searched, unit="problem")
        with bar, TraceWriter(run_dir, domain, config.linearize, started, resume=True) as traces:
            try:
                if traces.replaced is not None:
                    log.warning("%s", traces.replaced.note(run_dir.traces_dir))
                traces.catch_up()  # trees a stopped run wrote after the trace files' state
                resumed = time.perf_counter() - started
                with ticking(bar, lambda: activity(runner, time.perf_counter() - started - resumed)):
                    for tree in runner.run(todo, failed_trees(run_dir, retry)):
                        traces.add(tree, run_dir.append(tree))
                        nodes += len(tree.nodes)
                        bar.update()
            except BackendOutage as error:
                outage = error  # the traces and stats of every finished tree are still written
            except Interrupted as stop:  # every finished tree is in its shard, the traces' state saved
                stop.done = f"{run_dir.finished()} of {total} problems done"
                if requests_in_flight():  # given up, not yet closed: the lock goes with the process
                    run_dir.hold_lock_until_exit()
                raise
    if outage is not None:
        stats = traces.stats()
        finished = stats["problems"] - stats["failed"]
        raise RunStopped(
            f"stopped: {outage.what} ({outage}); {finished} of {total} problems done, "
            f"{stats['failed']} failed; rerun the same command to resume (failed searches are retried)"
        )
    elapsed = time.perf_counter() - started
    return SynthResult(traces.stats(), searched, len(retry), nodes, elapsed, resumed, runner.stats)


def activity(runner: Runner | RayRunner, seconds: float) -> str:
    """What the backends are doing, for the progress bar: requests in flight, calls and generated tokens (rollouts'
    included) per second, and how much of their budget the searches in flight have spent on average."""
    requests, calls, tokens, spent = runner.activity()
    seconds = max(seconds, 1e-9)
    shown = f"{requests} requests in flight, {calls / seconds:.1f} calls/s, {tokens / seconds:.0f} tokens/s"
    return shown if spent is None else f"{shown}, {spent:.0%} of the budget spent"


def relinearize(run_dir: str | Path, config: LinearizeConfig, progress: bool = False) -> dict:
    """Write a finished run's traces again, in other formats or with other options, without searching; holding
    the run's lock (RunDirError while a synth writes to it), refused when the shards lack trees the run counted, the
    old trace files kept if it fails (outputs.rewrite). `progress`: a bar of the trees on stderr."""
    with RunDir(run_dir).lock() as directory:
        domain = directory.domain()
        formats = resolve_formats(config.formats, domain)
        with rewriting(directory, formats), TraceWriter(directory, domain, config) as traces:
            traces.catch_up(progress)
    return traces.stats()
