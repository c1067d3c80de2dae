"""`synth --ray` where no Ray cluster answers, or the replicas do not fit: one line naming the flags, not a wait."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metacot.cli import main
from metacot.config import ConfigError
from metacot.distributed import connect
from metacot.distributed.config import RayConfig

ray = pytest.importorskip("ray")


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def synth_on(address: str, out: Path, capsys, *flags: str) -> tuple[int, list[str], float]:
    began = time.monotonic()
    code = main(["synth", "--out", str(out), "--num-problems", "4", "--no-progress", "--ray", address, *flags])
    return code, capsys.readouterr().err.splitlines(), time.monotonic() - began


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("address", "why"),
    [("127.0.0.1:{port}", "cannot connect: Connection refused"), ("nowhere.invalid:6379", "cannot connect: ")],
)
def test_an_address_where_nothing_listens_is_one_line_naming_the_flag(tmp_path, capsys, free_port, address, why):
    address = address.format(port=free_port)
    code, err, seconds = synth_on(address, tmp_path / "run", capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"metacot: error: --ray {address} (ray.address): no Ray cluster answers there ({why}")
    assert "`ray start --head`" in err[0] and "--ray local" in err[0]
    assert seconds < connect.PROBE_SECONDS
    assert not (tmp_path / "run").exists()  # refused before the run directory is made


def test_an_address_that_never_answers_fails_within_the_probe_time_and_keeps_the_run(
    tmp_path, capsys, silent_port, monkeypatch
):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--num-problems", "4", "--no-progress"]) == 0
    before = files(out)
    monkeypatch.setattr(connect, "PROBE_SECONDS", 0.5)
    code, err, seconds = synth_on(f"127.0.0.1:{silent_port}", out, capsys)
    assert code == 2 and len(err) == 1 and "(no answer within 0.5 s)" in err[0]
    assert seconds < 5
    assert files(out) == before  # the resumed run's directory is as it was


def test_an_address_without_a_port_is_refused(tmp_path, capsys):
    code, err, _ = synth_on("headnode", tmp_path / "run", capsys)
    assert code == 2 and err == [
        "metacot: error: --ray headnode (ray.address): expected local, auto or HOST:PORT (e.g. 10.0.0.5:6379)"
    ]


def test_auto_asks_at_the_address_ray_address_names(tmp_path, capsys, free_port, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{free_port}")
    code, err, _ = synth_on("auto", tmp_path / "run", capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"metacot: error: --ray auto (RAY_ADDRESS=127.0.0.1:{free_port}): no Ray cluster answers")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"replicas": 3, "cpus_per_replica": 1.0},
            "--ray local: the replicas ask for 3 CPUs (3 x 1), this machine has 2; "
            "lower --replicas or --cpus-per-replica, --cpus-per-prm-replica",
        ),
        (
            {"cpus_per_replica": 0.5, "prm_replicas": 2, "cpus_per_prm_replica": 0.5, "gpus_per_prm_replica": 1.0},
            "--ray local: the replicas ask for 2 GPUs (1 x 0 + 2 PRM x 1), this machine has 0; "
            "lower --replicas or --gpus-per-replica, --gpus-per-prm-replica",
        ),
    ],
)
def test_replicas_that_do_not_fit_a_local_cluster_are_refused(settings, message):
    ray_settings = RayConfig(address="local", **settings)
    with pytest.raises(ConfigError) as refused:
        connect.check_fits({"CPU": 2.0}, ray_settings, ray_settings.replicas)
    assert str(refused.value) == message
    connect.check_fits({"CPU": 2.0, "GPU": 2.0}, RayConfig(replicas=2, prm_replicas=2, cpus_per_prm_replica=0), 2)


def test_a_local_cluster_too_small_for_the_replicas_is_one_line_not_a_wait(tmp_path, capsys):
    code, err, _ = synth_on("local", tmp_path / "run", capsys, "--cpus-per-replica", "100000")
    assert code == 2 and len(err) == 1
    assert err[0].startswith("metacot: error: --ray local: the replicas ask for 100000 CPUs (1 x 100000)")
    assert not ray.is_initialized()  # the cluster the run started is stopped
    assert not (tmp_path / "run").exists()  # refused after the run directory was made: it is removed


def test_auto_with_no_cluster_running_here_leaves_no_run_directory(tmp_path, capsys, monkeypatch):
    from ray._private import services

    if services.find_bootstrap_address(None) or services.find_gcs_addresses():
        pytest.skip("a Ray cluster runs on this machine: auto would join it")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    code, err, _ = synth_on("auto", tmp_path / "runs" / "auto", capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith("metacot: error: --ray auto (ray.address): Could not find any running Ray instance")
    assert not (tmp_path / "runs").exists()  # nor the parent folder the run directory would have been made in
