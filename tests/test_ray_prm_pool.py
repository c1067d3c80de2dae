"""`synth --ray --prm-replicas N`: a learned PRM in its own Ray replicas scores as it does inside each replica."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from conftest import chain, run_traces, run_trees

from metacot.cli import main
from metacot.config import SynthConfig, from_dict
from metacot.distributed.prm_pool import PooledPRM, PRMReplica
from metacot.distributed.replicas import ChunkResult, RayRunner, Replica
from metacot.prm.base import ScoreRequest
from metacot.problems import make_domain
from metacot.problems.countdown import generate_problems
from metacot.synth import synth

os.environ["HF_HUB_OFFLINE"] = "1"
ray = pytest.importorskip("ray")
pytest.importorskip("transformers")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the stand-in replicas below travel by value

PROBLEMS = 6

pytestmark = pytest.mark.usefixtures("one_thread")  # the PRM of the test below sets torch's threads to 1


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


class VanishingPRM:
    """A PRM replica whose process dies (SIGKILL) when it is asked to score."""

    def score(self, paths: list) -> list[float]:
        os.kill(os.getpid(), signal.SIGKILL)
        return []


def test_a_round_goes_to_the_next_prm_replica_when_one_died(tmp_path, head_dir, cluster):
    from metacot.prm.transformers import TransformersPRM

    settings = config(tmp_path, head_dir)
    domain = make_domain(settings.problems)
    problem = next(iter(generate_problems(1, 3)))
    tree, nodes = chain(problem, ["21 + 90 = 111", "111 - 70 = 41"])
    requests = [ScoreRequest(problem, tree, node, seed=0) for node in nodes[1:]]  # each step's path
    pool = [ray.remote(num_cpus=0.25)(VanishingPRM).remote(), ray.remote(num_cpus=0.25)(PRMReplica).remote(settings)]
    proxy = PooledPRM(domain, pool)
    assert proxy.score(requests) == TransformersPRM(settings.prm.transformers, domain).score(requests)
    assert proxy.pool == pool[1:]
    ray.kill(pool[1])
    with pytest.raises(ray.exceptions.RayActorError):
        proxy.score(requests)


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
