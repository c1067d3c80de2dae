"""Engine benchmark: the synthesizer's own overhead with a zero-cost policy and PRM, end to end."""

from __future__ import annotations

import tempfile

from metacot.checks import at_least
from metacot.config import SynthConfig
from metacot.synth import SynthResult, synth


def bench_engine(
    searches: list[str], num_problems: int, concurrency: int, seed: int = 0, repeat: int = 3
) -> dict[str, dict]:
    """Run each strategy on generated Countdown-4 problems through the whole pipeline (search,
    linearization in every format, writing) and report created-and-scored nodes per second of the
    fastest of `repeat` runs (the runs are identical; the fastest is the least disturbed by the machine), and per
    second of the runner alone (drawing problems and searching; not linearizing or writing)."""
    for name, value in (("--num-problems", num_problems), ("--concurrency", concurrency), ("--repeat", repeat)):
        at_least(name, value, 1)
    results = {}
    for search in searches:
        config = SynthConfig(seed=seed, concurrency=concurrency)
        config.problems.num_problems = num_problems
        config.search.strategy = search
        result = min((_run(config) for _ in range(repeat)), key=lambda r: r.seconds)
        runner = result.runner
        results[search] = {
            "problems": result.searched,
            "nodes": result.nodes,
            "solve_rate": result.stats["solve_rate"],
            "seconds": result.seconds,
            "nodes_per_second": result.nodes / result.seconds,
            "search_nodes_per_second": result.nodes / runner.search_time,
            "mean_batch_size": runner.mean_policy_batch,
            "mean_prm_batch_size": runner.mean_prm_batch,
            "concurrency": concurrency,
            "repeat": repeat,
        }
    return results


def _run(config: SynthConfig) -> SynthResult:
    with tempfile.TemporaryDirectory() as out:
        config.out = out
        return synth(config, progress=False)


def format_table(results: dict[str, dict]) -> str:
    header = (
        f"{'search':8} {'problems':>8} {'nodes':>8} {'solved':>7} {'seconds':>8} {'nodes/s':>9} {'search/s':>9} "
        f"{'batch':>6}"
    )
    rows = [header]
    for name, r in results.items():
        rows.append(
            f"{name:8} {r['problems']:8d} {r['nodes']:8d} {r['solve_rate']:7.1%} {r['seconds']:8.2f} "
            f"{r['nodes_per_second']:9.0f} {r['search_nodes_per_second']:9.0f} {r['mean_batch_size']:6.1f}"
        )
    return "\n".join(rows)
