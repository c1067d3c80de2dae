"""Rollout reuse benchmark: what the rollout PRM generates per tree with and without reuse, same problems and seeds."""

from __future__ import annotations

import copy

from metacot.assemble import build_runner
from metacot.config import ConfigError, SynthConfig
from metacot.problems import make_domain, make_problems
from metacot.tree import SearchTree


def bench_rollout_reuse(config: SynthConfig) -> dict[str, dict]:
    """Run the configured searches (no files written) with the PRM's `reuse` (prm.rollout.reuse) off, then on, and
    report per tree: completions and their tokens generated, completions reused, rollout requests, nodes, and the
    solve rate."""
    backend = config.prm.backend
    if not hasattr(getattr(config.prm, backend, None), "reuse"):
        raise ConfigError(f"prm.backend: the rollout benchmark needs a PRM that reuses rollouts, got {backend!r}")
    domain = make_domain(config.problems)
    problems = make_problems(config.problems, config.seed)
    results = {}
    for reuse in (False, True):
        run = copy.deepcopy(config)
        getattr(run.prm, backend).reuse = reuse
        trees = list(build_runner(run, domain).run(problems))
        results["reuse" if reuse else "no reuse"] = per_tree(trees)
    return results


def per_tree(trees: list[SearchTree]) -> dict:
    n = len(trees) or 1
    figures = {"problems": len(trees), "solve_rate": sum(t.solved for t in trees) / n}
    figures["nodes"] = sum(len(t.nodes) for t in trees) / n
    for unit in ("rollouts", "rollout_tokens", "reused_rollouts", "rollout_calls", "generated_tokens"):
        figures[unit] = sum(getattr(t.compute, unit) for t in trees) / n
    return figures


def format_reuse_table(results: dict[str, dict]) -> str:
    """One row per setting, figures per tree."""
    header = (
        f"{'':9} {'problems':>8} {'solved':>7} {'nodes':>7} {'rollouts':>9} {'reused':>7} "
        f"{'rollout tokens':>15} {'step tokens':>12}"
    )
    rows = [header + "   (per tree)"]
    for name, r in results.items():
        rows.append(
            f"{name:9} {r['problems']:8d} {r['solve_rate']:7.1%} {r['nodes']:7.1f} {r['rollouts']:9.1f} "
            f"{r['reused_rollouts']:7.1f} {r['rollout_tokens']:15.1f} {r['generated_tokens']:12.1f}"
        )
    plain, reused = results["no reuse"]["rollout_tokens"], results["reuse"]["rollout_tokens"]
    if plain:
        rows.append(f"rollout tokens with reuse: {reused / plain:.1%} of those without")
    return "\n".join(rows)
