"""A learned PRM as its own pool of Ray replicas: each policy replica scores a round's paths in one call to one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from metacot.backends.registry import backend_class
from metacot.config import ConfigError, SynthConfig
from metacot.distributed.config import RayConfig
from metacot.prm.base import ScoreRequest
from metacot.prm.config import BACKENDS
from metacot.problems import make_domain
from metacot.problems.base import Domain

POOLED_PRMS = ("transformers", "vllm")  # the PRM backends that may run as their own replicas (ray.prm_replicas)


def check_prm_pool(ray: RayConfig, backend: str) -> None:
    """A ConfigError naming the flag when a PRM pool is asked for a PRM that scores inside the policy replicas (the
    oracle; the rollout PRM, which calls the policy) or on a server of its own (http)."""
    if ray.prm_replicas and backend not in POOLED_PRMS:
        raise ConfigError(
            f"--prm-replicas (ray.prm_replicas): a pool of PRM replicas runs a learned PRM (prm.backend "
            f"{' or '.join(POOLED_PRMS)}), not the {backend} PRM; drop --prm-replicas"
        )


@dataclass(frozen=True)
class NodeName:
    id: int


@dataclass(frozen=True)
class TreeName:
    problem_id: str


@dataclass(frozen=True)
class ScorePath:
    """A score request as it travels to the pool: text only, in the fields a Readout reads of a ScoreRequest (the
    problem's prompt, the steps from the root, and the node and problem that its errors name)."""

    problem: str  # the domain's prompt for the problem, made by the policy replica (the pool reads it as it is)
    steps: list[str]
    node: NodeName
    tree: TreeName

    @classmethod
    def of(cls, request: ScoreRequest, domain: Domain) -> ScorePath:
        return cls(
            domain.prompt(request.problem), request.steps, NodeName(request.node.id), TreeName(request.tree.problem_id)
        )


class PromptGiven:
    """The pool's domain as its PRM sees it (a learned PRM asks its domain for prompts only): a ScorePath's problem
    is the prompt already."""

    def prompt(self, problem: str, think_tags: bool = True) -> str:
        return problem


class PRMReplica:
    """One replica of the pool: the run's learned PRM, built from its config where it runs (on its GPUs)."""

    def __init__(self, config: SynthConfig):
        domain = make_domain(config.problems)
        cls = backend_class("prm", BACKENDS, config.prm.backend, domain)
        self.prm = cls(getattr(config.prm, config.prm.backend), cast(Domain, PromptGiven()))

    def ready(self) -> bool:
        """Answered once the model is loaded: a replica that cannot load it fails the run at its start."""
        return True

    def score(self, paths: list[ScorePath]) -> list[float]:
        return cast(list[float], self.prm.score(cast(list[ScoreRequest], paths)))


class PooledPRM:
    """A policy replica's PRM when the learned PRM runs in the pool: every round's paths in one call to one PRM
    replica, taken in turn (round-robin, starting at the policy replica's own slot so that the replicas spread out).
    A round is scored whole by one PRM replica, so its batches, and so its scores, are the in-replica PRM's. A PRM
    replica that died is left out of this proxy's turns and the round sent to the next; none left: the error."""

    def __init__(self, domain: Domain, pool: list[Any], slot: int = 0):
        if not pool:
            raise ValueError("a PRM pool needs at least one replica")
        self.domain, self.pool, self.turn = domain, list(pool), slot

    def score(self, requests: list[ScoreRequest]) -> list[float]:
        import ray

        if not requests:
            return []
        paths = [ScorePath.of(r, self.domain) for r in requests]
        while True:
            replica = self.pool[self.turn % len(self.pool)]
            try:
                scores = ray.get(replica.score.remote(paths))
            except ray.exceptions.RayActorError:
                if len(self.pool) == 1:
                    raise
                self.pool.remove(replica)
                continue
            self.turn += 1
            return cast(list[float], scores)
