"""Joining a Ray cluster without waiting forever: its address asked first, what a run asks of it checked."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Mapping

from metacot.config import ConfigError
from metacot.distributed.config import RayConfig
from metacot.stop import SIGNALS

PROBE_SECONDS = 5.0  # the most an address's check waits (Ray itself would retry for minutes)
# A Ray head's GCS answers this (or refuses it without the cluster's token); the Ray Client server answers the other.
GCS_METHOD = "/ray.rpc.NodeInfoGcsService/GetClusterId"
CLIENT_METHOD = "/ray.rpc.RayletDriver/ClusterInfo"
CLIENT_SCHEME = "ray://"
HINT = "start one there with `ray start --head`, or run on this machine with --ray local"


def check_cluster(address: str) -> None:
    """A ConfigError naming the flag unless a Ray cluster answers at `address` (HOST:PORT, or ray://HOST:PORT for
    Ray Client; auto: RAY_ADDRESS's, when set) within PROBE_SECONDS: one gRPC call to the head, which Ray's own
    connect would retry for minutes. Nothing to ask for local, nor for auto without RAY_ADDRESS (Ray then finds
    the cluster started on this machine, or fails at once)."""
    given = f"--ray {address} (ray.address)"
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        given = f"--ray auto (RAY_ADDRESS={address})"
    if address in ("", "local", "auto"):
        return
    _ask(address, given)


def _ask(address: str, given: str) -> None:
    import grpc

    client = address.startswith(CLIENT_SCHEME)
    target = address.removeprefix(CLIENT_SCHEME)
    host, colon, port = target.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ConfigError(f"{given}: expected local, auto or HOST:PORT (e.g. 10.0.0.5:6379)")

    def unreachable(why: str) -> ConfigError:
        return ConfigError(f"{given}: no Ray cluster answers there ({why}); {HINT}")

    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(CLIENT_METHOD if client else GCS_METHOD)
        try:
            call(b"", timeout=PROBE_SECONDS)
        except grpc.RpcError as error:
            code = error.code()  # a failed call is also a grpc.Call
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise unreachable(f"no answer within {PROBE_SECONDS:g} s") from None
            if code == grpc.StatusCode.UNAVAILABLE:
                detail = str(error.details()).rsplit(": ", 1)[-1].rstrip("]")
                raise unreachable(f"cannot connect: {detail}") from None
            if code == grpc.StatusCode.UNIMPLEMENTED and not client:
                raise unreachable("what answers is not a Ray head's GCS") from None
            # any other answer (UNAUTHENTICATED: the cluster wants its token, which ray.init sends) is a Ray head


def connect(address: str) -> bool:
    """Join the Ray cluster at `address` (local: start one here; check_cluster first, before the run directory
    is opened); False when this process is already in one. Ray's own signal handlers are undone: SIGINT and
    SIGTERM stop a run through its cleanup (metacot.stop)."""
    import ray

    if ray.is_initialized():
        return False
    main = threading.current_thread() is threading.main_thread()  # only it may set signal handlers
    handlers = {signum: signal.getsignal(signum) for signum in SIGNALS} if main else {}
    if address == "local":
        ray.init(include_dashboard=False)
    else:
        try:
            ray.init(address=address)
        except ConnectionError as error:  # auto, and no cluster running here
            raise ConfigError(f"--ray {address} (ray.address): {error}; {HINT}") from None
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    return True


def check_fits(resources: Mapping[str, float], settings: RayConfig, replicas: int) -> None:
    """A ConfigError naming the flags when the replicas ask a cluster started here for more CPUs or GPUs than it
    has (`resources`: ray.cluster_resources()): Ray would wait forever for a machine to put them on."""
    for unit, flags, per_replica, per_prm in (
        ("CPU", "--cpus-per-replica, --cpus-per-prm-replica", settings.cpus_per_replica, settings.cpus_per_prm_replica),
        ("GPU", "--gpus-per-replica, --gpus-per-prm-replica", settings.gpus_per_replica, settings.gpus_per_prm_replica),
    ):
        wanted = replicas * per_replica + settings.prm_replicas * per_prm
        have = resources.get(unit, 0.0)
        if wanted > have:
            detail = f"{replicas} x {per_replica:g}" + (
                f" + {settings.prm_replicas} PRM x {per_prm:g}" if settings.prm_replicas else ""
            )
            raise ConfigError(
                f"--ray local: the replicas ask for {wanted:g} {unit}s ({detail}), this machine has {have:g}; "
                f"lower --replicas or {flags}"
            )


def holds_a_replica(nodes: list[dict], settings: RayConfig) -> bool:
    """Whether a live node of the cluster (`nodes`: ray.nodes()) has the CPUs and GPUs one replica asks for."""
    return any(
        node.get("Alive")
        and node.get("Resources", {}).get("CPU", 0.0) >= settings.cpus_per_replica
        and node.get("Resources", {}).get("GPU", 0.0) >= settings.gpus_per_replica
        for node in nodes
    )
