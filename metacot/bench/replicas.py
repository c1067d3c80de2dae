"""Benchmark of `synth --ray` on this machine: throughput and the driver's cost per tree, local vs Ray replicas, and
the speed-up with replicas that wait on a model (a policy that sleeps per call). Run: metacot bench replicas
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from metacot.assemble import build_runner
from metacot.bench.machine import load_average, machine, machine_line
from metacot.checks import at_least
from metacot.config import SynthConfig
from metacot.distributed.config import RayConfig
from metacot.distributed.replicas import RayRunner, Replica
from metacot.policy.base import ExpandRequest, Policy, Proposal
from metacot.problems import make_domain
from metacot.search import Runner
from metacot.synth import synth


class SleepyPolicy:
    """A policy that waits `delay` seconds per batched call before answering: a GPU model's forward pass, as far
    as the runner can tell (the CPU is free while it waits)."""

    def __init__(self, inner: Policy, delay: float):
        self.inner, self.delay = inner, delay

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        time.sleep(self.delay)
        return self.inner.propose(requests)


def slowed(runner: Runner, delay: float) -> Runner:
    runner.policy = SleepyPolicy(runner.policy, delay)
    return runner


class SleepyReplica(Replica):
    """A replica whose policy sleeps `delay` (set by a subclass) per call."""

    delay = 0.0

    def __init__(self, config: SynthConfig, prm_pool: list[Any] | None = None, slot: int = 0):
        super().__init__(config, prm_pool, slot)
        slowed(self.runner, self.delay)


@dataclass
class Row:
    name: str
    trees: int
    seconds: float
    driver_cpu: float  # CPU seconds of this process (the driver): searching too when local
    startup: float = 0.0  # of `seconds`, starting the replicas (building their backends)

    def line(self, base: Row | None) -> str:
        searching = self.seconds - self.startup
        speedup = f" {(base.seconds - base.startup) / searching:5.2f}x" if base else ""
        return (
            f"{self.name:<16} {self.trees:>6} trees {self.seconds:7.1f} s (replicas starting {self.startup:4.1f} s) "
            f"{self.trees / searching:7.1f} trees/s after; driver {1000 * self.driver_cpu / self.trees:5.2f} ms "
            f"CPU/tree{speedup}"
        )


def timed(name: str, config: SynthConfig, runner: Callable[[], Any] | None = None) -> Row:
    cpu, wall = time.process_time(), time.perf_counter()
    chosen = runner() if runner else None
    result = synth(config, progress=False, runner=chosen)
    startup = chosen.startup if isinstance(chosen, RayRunner) else 0.0
    return Row(name, result.searched, time.perf_counter() - wall, time.process_time() - cpu, startup)


def configured(out: Path, problems: int, simulations: int, replicas: int | None, chunk: int) -> SynthConfig:
    config = SynthConfig(out=str(out))
    config.problems.num_problems = problems
    config.search.mcts.simulations = simulations
    if replicas is not None:
        config.ray.address, config.ray.replicas, config.ray.chunk = "local", replicas, chunk
        config.ray.cpus_per_replica = 0.25  # four replicas fit on two cores: they are measured, not the scheduler
    return config


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's flags (`metacot bench replicas` and `python -m metacot.bench.replicas`)."""
    p.add_argument("--problems", type=int, default=20_000, help="symbolic runs: problems (0: none)")
    p.add_argument("--simulations", type=int, default=300, help="symbolic runs: MCTS simulations")
    p.add_argument("--sleepy-problems", type=int, default=512, help="sleeping-policy runs: problems")
    p.add_argument("--sleepy-simulations", type=int, default=50, help="sleeping-policy runs: MCTS simulations")
    p.add_argument("--delay", type=float, default=0.02, help="seconds the sleeping policy waits per call")
    p.add_argument("--chunk", type=int, default=RayConfig.chunk, help="problems per chunk a replica takes")
    p.add_argument("--replicas", default="1,2,4", help="sleeping-policy runs: replica counts")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    add_arguments(p)
    run(p.parse_args(argv))


def replica_counts(text: str) -> list[int]:
    """The --replicas list: each count a whole number of at least 1 (a ValueError naming the flag otherwise)."""
    counts = []
    for item in text.split(","):
        try:
            counts.append(int(item))
        except ValueError:
            raise ValueError(f"--replicas: {item.strip()!r} is not a whole number (e.g. --replicas 1,2,4)") from None
        at_least("--replicas", counts[-1], 1)
    return counts


def run(args: argparse.Namespace) -> None:
    """Print the symbolic-policy rows (local, 1 and 2 replicas), then the sleeping-policy rows."""
    counts = replica_counts(args.replicas)
    load = load_average()
    import ray

    started = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)
    print(f"ray.init (a local cluster): {time.perf_counter() - started:.1f} s, not counted below")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        print(f"symbolic policy, {args.problems} problems, MCTS {args.simulations} simulations:")
        base = None
        for name, replicas in (("local", None), ("ray, 1 replica", 1), ("ray, 2 replicas", 2)) * bool(args.problems):
            config = configured(out / f"sym-{replicas}", args.problems, args.simulations, replicas, args.chunk)
            row = timed(name, config, partial(RayRunner, config, make_domain(config.problems)) if replicas else None)
            print(row.line(base), flush=True)
            base = base or row
        sleepy_run = f"{args.sleepy_problems} problems, MCTS {args.sleepy_simulations}"
        print(f"policy sleeping {args.delay} s per call, {sleepy_run}:")
        config = configured(out / "sleepy-local", args.sleepy_problems, args.sleepy_simulations, None, args.chunk)
        base = timed("local", config, lambda: slowed(build_runner(config, make_domain(config.problems)), args.delay))
        print(base.line(base), flush=True)
        sleepy = type("Sleepy", (SleepyReplica,), {"delay": args.delay})
        for replicas in counts:
            config = configured(
                out / f"sleepy-{replicas}", args.sleepy_problems, args.sleepy_simulations, replicas, args.chunk
            )
            name = f"ray, {replicas} replica{'s' * (replicas > 1)}"
            row = timed(name, config, partial(RayRunner, config, make_domain(config.problems), sleepy))
            print(row.line(base), flush=True)
    ray.shutdown()
    print(machine_line(machine(load)))


if __name__ == "__main__":
    main()
