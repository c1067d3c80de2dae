"""A stop stops: SIGINT against a hung server ends `metacot synth` within seconds, its lock held until it is gone;
a hung server trips the breaker within about two timeouts, not every search's whole retry chain."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

pytest.importorskip("openai")
pytest.importorskip("transformers")

from fault_server import SERVED, FaultServer  # noqa: E402

from metacot.backends.silence import HUNG_AFTER, Silence  # noqa: E402
from metacot.cli import main  # noqa: E402
from metacot.outputs import RunDir  # noqa: E402

ANSWERED = 6  # requests answered before the server hangs (some trees finish first)


@pytest.fixture
def hung():
    """A server that answers ANSWERED requests, then holds every request for 10 minutes without a reply."""
    server = FaultServer(lambda count, body: ("hang", 600.0) if count > ANSWERED else None)
    yield server
    with contextlib.suppress(OSError):
        server.stop()


def synth_args(out: Path, url: str, tokenizer: str, timeout: float, max_retries: int, problems: int = 8) -> list[str]:
    settings = {"base_url": url, "tokenizer": tokenizer, "timeout": timeout, "max_retries": max_retries}
    sets = [arg for key, value in settings.items() for arg in ("--set", f"policy.openai.{key}={value}")]
    return [
        "synth", "--out", str(out), "--no-progress", "--policy", "openai", "--policy-model", SERVED,
        "--num-problems", str(problems), "--concurrency", "2", "--search", "astar",
        "--set", "search.astar.budget.nodes=12", "--set", "policy.openai.max_tokens=8",
        "--set", "policy.openai.backoff=0.01", *sets,
    ]  # fmt: skip


def lock_is_free(out: Path) -> bool:
    with (out / ".lock").open("ab") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(lock, fcntl.LOCK_UN)
        return True


def test_sigint_against_a_hung_server_ends_the_process_within_seconds(hung, tokenizer_dir, tmp_path):
    out = tmp_path / "run"
    # old code: a worker thread retries for (max_retries + 1) x timeout = 1,200 s after the "stopped" line
    args = synth_args(out, hung.url, tokenizer_dir, timeout=120, max_retries=9)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "metacot.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while hung.count <= ANSWERED + 1 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until requests hang on the server
        assert process.poll() is None and hung.count > ANSWERED, process.communicate()
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        while process.poll() is None and time.monotonic() - sent < 10:
            if lock_is_free(out):  # the process may be between closing its files and being reaped
                try:
                    process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pytest.fail("the lock was released while the process still ran (2 s later it still runs)")
            time.sleep(0.02)
        stopped = time.monotonic() - sent
        assert process.poll() is not None, "still running 10 s after SIGINT"
    finally:
        if process.poll() is None:
            process.kill()
        _, err = process.communicate()
    print(f"stopped {stopped:.2f} s after SIGINT")
    assert process.returncode == 130
    line = err.decode().strip().splitlines()[-1]
    assert line.startswith("metacot: stopped; ") and line.endswith("rerun the same command to resume")
    assert lock_is_free(out)
    finished = len(list(RunDir(out).iter_trees()))

    hung.fault = lambda count, body: None  # the server heals: the rerun resumes, every problem once
    assert main(synth_args(out, hung.url, tokenizer_dir, timeout=5, max_retries=0)) == 0
    trees = list(RunDir(out).iter_trees())
    assert len(trees) == len({t.problem_id for t in trees}) == 8 and not any(t.failed for t in trees)
    assert finished < 8


def test_a_hung_server_trips_the_breaker_within_two_timeouts(hung, tokenizer_dir, tmp_path, capsys):
    timeout, max_retries = 0.5, 5
    out = tmp_path / "run"
    started = time.monotonic()
    # old code: 8 searches x (max_retries + 1) timeouts each, after the round's own retries: over 27 s
    assert main(synth_args(out, hung.url, tokenizer_dir, timeout, max_retries, problems=20)) == 1
    took = time.monotonic() - started
    print(f"breaker tripped {took:.2f} s after the start (timeout {timeout} s)")
    assert took < HUNG_AFTER * timeout + 5  # the run's start and searching, a margin for a loaded machine
    err = capsys.readouterr().err.strip()
    assert err.startswith("metacot: stopped: the backend is failing (8 searches in a row failed")
    assert "requests in a row timed out" in err and "rerun the same command to resume" in err
    stats = orjson.loads((out / "stats.json").read_bytes())
    assert stats["failed"] >= 1


def test_timeouts_while_other_requests_are_answered_are_a_slow_server_not_a_hung_one():
    silence = Silence(pause=60)
    sent = time.monotonic()
    silence.replied()  # an answer came while the attempts below waited
    for _ in range(5):
        silence.timed_out(sent)
    assert silence.hung() == 0
    for _ in range(HUNG_AFTER):
        silence.timed_out(time.monotonic())  # nothing answered since they were sent
    assert silence.hung() == HUNG_AFTER
    silence.replied()
    assert silence.hung() == 0
