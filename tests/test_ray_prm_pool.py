"""`synth --ray --prm-replicas N`: a learned PRM in its own Ray replicas scores as it does inside each replica."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import run_traces, run_trees

from metacot.cli import main
from metacot.config import SynthConfig, from_dict
from metacot.distributed.prm_pool import PooledPRM
from metacot.distributed.replicas import ChunkResult, RayRunner, Replica
from metacot.problems import make_domain
from metacot.synth import synth

os.environ["HF_HUB_OFFLINE"] = "1"
ray = pytest.importorskip("ray")
pytest.importorskip("transformers")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the stand-in replica below travels by value

PROBLEMS = 6


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def config(out: Path, model: str, **ray_settings) -> SynthConfig:
    settings = {"address": "local", "replicas": 2, "chunk": 3, "cpus_per_replica": 0.5, **ray_settings}
    data = {
        "out": str(out),
        "problems": {"num_problems": PROBLEMS},
        "prm": {"backend": "transformers", "transformers": {"model": model, "style": "separator-head", "threads": 1}},
        "search": {"mcts": {"simulations": 12}},
        "ray": settings,
    }
    return from_dict(SynthConfig, data, "test")


class PoolOnlyReplica(Replica):
    """Fails its chunk unless it scores through the pool, not with a PRM of its own."""

    def run(self, problems: list, earlier: dict | None = None) -> ChunkResult:
        if not isinstance(self.runner.prm, PooledPRM):
            raise RuntimeError("the replica built its own PRM")
        return super().run(problems, earlier)


@pytest.fixture(scope="module")
def in_replicas(tmp_path_factory, head_dir, cluster) -> Path:
    """A run whose replicas each hold the PRM. (Not a local run: a learned PRM's batches, here the rounds of a chunk
    of problems, not of the whole run, move its scores in the last bits; a pool must leave its batches as they are.)"""
    out = tmp_path_factory.mktemp("in-replicas")
    synth(config(out, head_dir), progress=False)
    return out


@pytest.mark.parametrize("prm_replicas", [1, 2])
def test_a_prm_pool_gives_the_trees_of_a_prm_in_each_replica(tmp_path, head_dir, in_replicas, prm_replicas):
    pooled = config(tmp_path / "pooled", head_dir, prm_replicas=prm_replicas, cpus_per_prm_replica=0.25)
    runner = RayRunner(pooled, make_domain(pooled.problems), PoolOnlyReplica)
    result = synth(pooled, progress=False, runner=runner)
    assert run_trees(tmp_path / "pooled") == run_trees(in_replicas)
    assert run_traces(tmp_path / "pooled") == run_traces(in_replicas)
    assert result.stats["failed"] == 0 and result.runner.prm_calls > 0


@pytest.mark.parametrize("backend", ["oracle", "rollout", "http"])
def test_a_prm_pool_of_a_prm_that_is_not_a_local_model_is_refused(tmp_path, capsys, backend):
    out = tmp_path / "run"
    argv = ["synth", "--out", str(out), "--ray", "local", "--prm", backend, "--prm-replicas", "2", "--no-progress"]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        "metacot: error: --prm-replicas (ray.prm_replicas): a pool of PRM replicas runs a learned PRM "
        f"(prm.backend transformers or vllm), not the {backend} PRM; drop --prm-replicas"
    ]
    assert not out.exists()
