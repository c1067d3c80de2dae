"""The [ray] section: where the searches run and how they are shared out; how, never what (outside the hash)."""

from __future__ import annotations

from dataclasses import dataclass, field

from metacot.checks import at_least, between
from metacot.flags import flag

READY_TIMEOUT_MOST = 86400.0  # a day: longer is no bound


@dataclass
class RayConfig:
    """Searches on a Ray cluster: `replicas` actors, each with its own Runner and backends, take chunks of problems
    from the driver, which alone writes the run directory; with `prm_replicas`, a learned PRM runs in replicas of its
    own that score for them all. No setting here changes a tree: none is in the hash."""

    address: str | None = flag(
        "run the searches on Ray: local (start a cluster on this machine), auto (the running cluster) or an ADDRESS",
        None,
        name="--ray",
        metavar="ADDRESS",
    )
    replicas: int = flag("Ray replicas, each with its own policy (and PRM, without --prm-replicas)", 1)
    cpus_per_replica: float = flag("CPUs Ray reserves per replica", 1.0)
    gpus_per_replica: float = flag("GPUs Ray reserves per replica (1: one replica per GPU; 2+: tensor parallel)", 0.0)
    prm_replicas: int = flag(
        "Ray replicas of a learned PRM (transformers, vllm) that every policy replica's scoring goes to "
        "(0: a PRM inside each policy replica)",
        0,
    )
    cpus_per_prm_replica: float = flag("CPUs Ray reserves per PRM replica", 1.0)
    gpus_per_prm_replica: float = flag("GPUs Ray reserves per PRM replica", 0.0)
    chunk: int = flag(
        "problems a replica takes at a time (a few times --concurrency: a chunk ends with thinning batches)", 256
    )
    chunk_attempts: int = flag("tries of a chunk whose replica dies before its problems are recorded as failed", 3)
    ready_timeout: float = flag(
        "seconds a replica (at the start, or one replacing a replica that died) has to be placed on a node and build"
        " its backends before the run stops, its finished trees kept",
        600.0,
    )
    ahead: int = field(
        default=4,
        metadata={"help": "chunks per replica the driver sends past the oldest unfinished one (it holds at most ahead"
                          " x replicas x chunk finished trees)"},
    )

    def __post_init__(self) -> None:
        if self.address is not None and not self.address.strip():
            raise ValueError("address: must be local, auto or a cluster address, got an empty string")
        at_least("replicas", self.replicas, 1)
        at_least("cpus_per_replica", self.cpus_per_replica, 0, float)
        at_least("gpus_per_replica", self.gpus_per_replica, 0, float)
        at_least("prm_replicas", self.prm_replicas, 0)
        at_least("cpus_per_prm_replica", self.cpus_per_prm_replica, 0, float)
        at_least("gpus_per_prm_replica", self.gpus_per_prm_replica, 0, float)
        at_least("chunk", self.chunk, 1)
        at_least("chunk_attempts", self.chunk_attempts, 1)
        between("ready_timeout", self.ready_timeout, 1, READY_TIMEOUT_MOST)
        at_least("ahead", self.ahead, 1)
