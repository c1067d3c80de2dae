"""`synth --ray` on a cluster whose node dies (its raylet killed): one line within a bounded time, trees kept."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_trees

from metacot.config import SynthConfig, from_dict
from metacot.synth import synth

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

PROBLEMS, SIMULATIONS = 1000, 30  # enough that no machine finishes before the raylet is killed
FLAGS = ["--num-problems", str(PROBLEMS), "--simulations", str(SIMULATIONS), "--chunk", "2"]
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # a token in ~/.ray would be asked of the driver, not sent
STOP_SECONDS = 90  # Ray's health checks find a dead node within about a minute


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def started_here(temp: str) -> list:
    """The processes of the cluster whose session lives under `temp` (they detach from `ray start`)."""
    return [p for p in psutil.process_iter(["cmdline"]) if temp in " ".join(p.info["cmdline"] or ())]


@pytest.fixture
def cluster() -> Iterator[tuple[str, str]]:
    """A one-node Ray cluster of its own (its address, its temp dir): its raylet is killed, which the test
    process, outside it, survives."""
    temp = tempfile.mkdtemp(prefix="mc-ray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    port = free_port()
    ray_cli = str(Path(sys.executable).with_name("ray"))
    command = [ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"]
    subprocess.run([*command, f"--temp-dir={temp}", "--disable-usage-stats"], env=ENV, check=True, capture_output=True)
    try:
        yield f"127.0.0.1:{port}", temp
    finally:
        for process in started_here(temp):
            process.kill()
        shutil.rmtree(temp, ignore_errors=True)


def test_a_dead_node_stops_the_run_with_one_line_and_a_rerun_resumes(tmp_path, cluster):
    address, temp = cluster
    out = tmp_path / "run"
    command = [sys.executable, "-m", "metacot.cli", "synth", "--out", str(out), "--ray", address, *FLAGS]
    driver = subprocess.Popen([*command, "--no-progress"], stderr=subprocess.PIPE, text=True, env=ENV)
    shard = out / "trees" / "trees-00000.jsonl"
    deadline = time.monotonic() + 120
    while (not shard.exists() or shard.read_bytes().count(b"\n") < 10) and time.monotonic() < deadline:
        time.sleep(0.05)
    (raylet,) = [p for p in started_here(temp) if p.name() == "raylet"]
    raylet.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    try:
        _, err = driver.communicate(timeout=STOP_SECONDS)
    finally:
        driver.kill()
    assert time.monotonic() - killed < STOP_SECONDS
    assert driver.returncode == 1, err
    ours = [line for line in err.splitlines() if line.startswith("metacot:")]
    assert len(ours) == 1 and ours[0].startswith("metacot: stopped: the Ray cluster lost replicas (no live node")
    assert "rerun the same command to resume" in ours[0]
    written = len(run_trees(out))
    assert 10 <= written < PROBLEMS
    rerun = from_dict(SynthConfig, {"out": str(out), "problems": {"num_problems": PROBLEMS}}, "test")
    rerun.search.mcts.simulations = SIMULATIONS
    result = synth(rerun, progress=False)  # without Ray: its settings are outside the config hash
    records = run_trees(out)
    assert result.searched == PROBLEMS - written
    assert sorted(r["problem_id"] for r in records) == [f"countdown-{i:06d}" for i in range(PROBLEMS)]
    assert not any(r["failed"] for r in records)
