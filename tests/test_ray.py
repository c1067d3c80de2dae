"""`synth --ray` on a local Ray cluster: a local run's trees and traces, replicas that die, a stopped driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_traces, run_trees

from metacot.config import ConfigError, SynthConfig, from_dict
from metacot.distributed.replicas import ChunkResult, RayRunner, Replica
from metacot.problems import make_domain
from metacot.search import RunnerStats
from metacot.search.breaker import RunStopped
from metacot.stop import Interrupted
from metacot.synth import synth

ray = pytest.importorskip("ray")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the stand-in replicas below travel by value

PROBLEMS = 24
DOOMED = "countdown-000013"  # a problem whose replica always dies in the tests of chunks that keep failing


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def config(out: Path, **ray_settings) -> SynthConfig:
    settings = {"address": "local", "replicas": 2, "chunk": 4, "cpus_per_replica": 0.5, **ray_settings}
    return from_dict(SynthConfig, {"out": str(out), "problems": {"num_problems": PROBLEMS}, "ray": settings}, "test")


def local(out: Path) -> SynthConfig:
    plain = config(out)
    plain.ray.address = None
    return plain


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local")
    synth(local(out), progress=False)
    return out


class DyingReplica(Replica):
    """Dies like a killed process (SIGKILL) the first time it is given the chunk that holds DOOMED; the file
    `mark` (set by a subclass) records that it did, so that the replica which takes the chunk again finishes it."""

    mark = ""

    def run(self, problems: list, earlier: dict | None = None) -> ChunkResult:
        if any(p.id == DOOMED for p in problems) and not Path(self.mark).exists():
            Path(self.mark).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().run(problems, earlier)


class DoomedReplica(Replica):
    """Dies every time it is given the chunk that holds DOOMED."""

    def run(self, problems: list, earlier: dict | None = None) -> ChunkResult:
        if any(p.id == DOOMED for p in problems):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().run(problems, earlier)


def runner(settings: SynthConfig, replica: type) -> RayRunner:
    return RayRunner(settings, make_domain(settings.problems), replica)


@pytest.mark.parametrize("replicas", [1, 2])
def test_the_same_trees_and_traces_as_a_local_run(tmp_path, reference, replicas):
    result = synth(config(tmp_path, replicas=replicas), progress=False)
    assert run_trees(tmp_path) == run_trees(reference)
    assert run_traces(tmp_path) == run_traces(reference)
    assert result.searched == PROBLEMS and result.runner.policy_calls > 0


def test_ray_settings_are_outside_the_config_hash(tmp_path):
    assert config(tmp_path, replicas=3, chunk=9).hash() == local(tmp_path).hash()


def test_a_replica_that_dies_costs_only_its_chunk(tmp_path, reference):
    mark = tmp_path / "died"
    settings = config(tmp_path / "run")
    dying = type("DyingHere", (DyingReplica,), {"mark": str(mark)})
    synth(settings, progress=False, runner=runner(settings, dying))
    assert mark.exists()  # a replica did die
    assert run_trees(tmp_path / "run") == run_trees(reference)  # every problem once, none failed, in order
    assert run_traces(tmp_path / "run") == run_traces(reference)


def test_a_chunk_that_keeps_failing_ends_as_failed_records_then_a_rerun_retries_it(tmp_path, reference):
    settings = config(tmp_path, chunk_attempts=2)
    result = synth(settings, progress=False, runner=runner(settings, DoomedReplica))
    records = run_trees(tmp_path)
    failed = {r["problem_id"]: r["failed"] for r in records if r["failed"]}
    assert DOOMED in failed and len(failed) == 4  # its chunk of 4
    assert all(reason.startswith("ray: ") and "died" in reason for reason in failed.values())
    assert sorted(r["problem_id"] for r in records) == sorted(r["problem_id"] for r in run_trees(reference))
    assert result.stats["failed"] == 4
    synth(config(tmp_path), progress=False)  # the rerun searches the failed problems again
    records = run_trees(tmp_path)
    assert [r["problem_id"] for r in records[PROBLEMS:]] == list(failed)  # the retried trees, after the rest
    latest = {r["problem_id"]: r for r in records}
    assert list(latest.values()) == run_trees(reference)
    for name, records in run_traces(reference).items():  # the retried problems' records come last, as in a local run
        assert sorted(run_traces(tmp_path)[name].splitlines()) == sorted(records.splitlines())


class NeverReplaced(DyingReplica):
    """A replica that dies (DyingReplica) and whose replacement never gets ready, as if no node had room for it."""

    def __init__(self, *args, **kwargs):
        if Path(self.mark).exists():
            time.sleep(3600)  # killed by the driver as the run stops
        super().__init__(*args, **kwargs)


class QuickToGiveUp(RayRunner):
    """Its first replicas start with the default ready_timeout (a loaded machine is slow to start them); a
    replacement has 1 s."""

    def _drive(self, *args):
        self.config.ray.ready_timeout = 1.0
        return super()._drive(*args)


def test_a_replica_not_replaced_in_time_stops_the_run_keeping_what_finished(tmp_path, reference):
    settings = config(tmp_path / "run")
    never = type("NeverHere", (NeverReplaced,), {"mark": str(tmp_path / "died")})
    with pytest.raises(RunStopped, match=r"lost replicas \(a replica that died was not replaced within 1 s"):
        synth(settings, progress=False, runner=QuickToGiveUp(settings, make_domain(settings.problems), never))
    kept = run_trees(tmp_path / "run")
    assert DOOMED not in {r["problem_id"] for r in kept} and 0 < len(kept) < PROBLEMS
    assert all(r in run_trees(reference) for r in kept) and not any(r["failed"] for r in kept)
    synth(config(tmp_path / "run"), progress=False)  # the rerun searches the rest
    assert sorted(run_trees(tmp_path / "run"), key=lambda r: r["problem_id"]) == run_trees(reference)


def test_replicas_not_ready_in_time_stop_the_run_at_its_start(tmp_path):
    settings = config(tmp_path / "run", ready_timeout=1)
    never = type("NeverReady", (NeverReplaced,), {"mark": str(tmp_path)})  # an existing mark: no replica starts
    with pytest.raises(RunStopped, match=r"2 Ray replicas were not ready within 1 s \(--ready-timeout\)"):
        synth(settings, progress=False, runner=runner(settings, never))


class FailingBackendReplica(Replica):
    """Its breaker stops it on the chunk that holds DOOMED (the backend keeps failing)."""

    def run(self, problems: list, earlier: dict | None = None) -> ChunkResult:
        if any(p.id == DOOMED for p in problems):
            return ChunkResult([], RunnerStats(), "8 searches in a row failed")
        return super().run(problems, earlier)


def test_a_replica_whose_backend_keeps_failing_stops_the_run_keeping_what_finished(tmp_path, reference):
    settings = config(tmp_path, replicas=1)
    with pytest.raises(RunStopped, match="8 searches in a row failed"):
        synth(settings, progress=False, runner=runner(settings, FailingBackendReplica))
    assert run_trees(tmp_path) == run_trees(reference)[:12]  # the chunks before DOOMED's, in order


class StoppedRayRunner(RayRunner):
    """Ctrl-C on the driver after a few trees are out."""

    def run(self, problems, earlier=None):
        for count, tree in enumerate(super().run(problems, earlier)):
            if count == 7:
                raise Interrupted(signal.SIGINT)
            yield tree


def test_a_stopped_driver_leaves_a_directory_a_ray_run_resumes(tmp_path, reference):
    settings = config(tmp_path)
    with pytest.raises(Interrupted):
        synth(settings, progress=False, runner=StoppedRayRunner(settings, make_domain(settings.problems)))
    assert len(run_trees(tmp_path)) == 7
    result = synth(config(tmp_path), progress=False)
    assert result.searched == PROBLEMS - 7
    assert run_trees(tmp_path) == run_trees(reference)
    assert run_traces(tmp_path) == run_traces(reference)


def test_a_killed_driver_leaves_a_directory_a_ray_run_resumes_exactly_once(tmp_path):
    count, flags = 300, ["--num-problems", "300", "--simulations", "30", "--chunk", "2", "--cpus-per-replica", "0.5"]
    address = ray.get_runtime_context().gcs_address  # the test's cluster: the driver does not start its own
    command = [sys.executable, "-m", "metacot.cli", "synth", "--out", str(tmp_path), "--ray", address, *flags]
    driver = subprocess.Popen([*command, "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shard = tmp_path / "trees" / "trees-00000.jsonl"
    deadline = time.monotonic() + 60
    while (not shard.exists() or shard.read_bytes().count(b"\n") < 10) and time.monotonic() < deadline:
        time.sleep(0.05)
    driver.kill()
    assert driver.wait() == -signal.SIGKILL
    written = shard.read_bytes().count(b"\n")  # complete lines: a last one cut by the kill is repaired on resume
    assert 10 <= written < count
    settings = config(tmp_path, chunk=2)
    settings.problems.num_problems, settings.search.mcts.simulations = count, 30
    result = synth(settings, progress=False)
    records = run_trees(tmp_path)
    assert result.searched == count - written
    assert sorted(r["problem_id"] for r in records) == [f"countdown-{i:06d}" for i in range(count)]
    assert not any(r["failed"] for r in records)


def test_behaviour_conditioned_search_on_ray_is_refused_before_the_run_directory_is_made(tmp_path):
    settings = config(tmp_path / "run")
    settings.behaviors.handbook = "builtin"
    with pytest.raises(ConfigError, match="behaviors.handbook: behaviour-conditioned search does not run on Ray"):
        synth(settings, progress=False)
    assert not (tmp_path / "run").exists()
