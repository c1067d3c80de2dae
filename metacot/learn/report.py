"""The experiment's report: results.jsonl (one row per condition and seed), table.md (each figure's mean and 95%
bootstrap interval per condition, with the training facts and how the run was made) and a plot of the solve rate
against training tokens."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson

from metacot.bench.machine import load_average, machine, machine_line
from metacot.bench.plots import pyplot, save_figure
from metacot.learn.conditions import BASELINE
from metacot.learn.stats import COMPARED, baseline_differences, bootstrap, condition_intervals, figures, run_figures
from metacot.outputs.files import AtomicFile
from metacot.outputs.manifest import versions

if TYPE_CHECKING:
    from metacot.learn.config import LearnConfig

RESULTS, TABLE, PLOT = "results.jsonl", "table.md", "solve_rate.png"
SPLIT_NAMES = {"heldout": "held-out problems", "validation": "validation problems (choosing hyperparameters)"}


@dataclass
class Run:
    """One model: its condition, training seed, training facts (train.json) and per-problem evaluation."""

    condition: str
    seed: int
    training: dict
    results: list[dict]
    curve: list[dict]  # curve.jsonl: per checkpoint and the final model, tokens fed and the curve problems' verdicts


def write_report(
    out: Path, config: LearnConfig, runs: list[Run], budget: float, level: float, command: str, seconds: float
) -> list[Path]:
    """results.jsonl, table.md and the plot (when matplotlib is installed); best-of-n at `budget` generated tokens,
    `level` the chance of legal steps taken at random; the paths written."""
    rows = [
        {"condition": r.condition, "seed": r.seed, **run_figures(r.results, budget), "budget_tokens": budget,
         "problems": len(r.results), "training": r.training}
        for r in runs
    ]
    with AtomicFile(out / RESULTS) as file:
        file.write(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    summary = summarize(config, runs, budget)
    text = table(config, summary, budget, level, command, seconds, pair_differences(config, runs, budget))
    with AtomicFile(out / TABLE) as file:
        file.write(text.encode())
    written = [out / RESULTS, out / TABLE]
    return written + plot(out / PLOT, config, curves(config, runs))


def summarize(config: LearnConfig, runs: list[Run], budget: float) -> list[dict]:
    """One entry per condition, in the config's order: each figure's (mean, low, high) and the training facts."""
    summary = []
    baseline = [r for r in runs if r.condition == BASELINE]
    for name in config.trained():
        mine = [r for r in runs if r.condition == name]
        if not mine:
            continue
        facts = mine[0].training
        versus = {}
        if baseline and name != BASELINE:
            versus = baseline_differences(
                [r.results for r in mine], [r.results for r in baseline], budget, config.bootstrap
            )
        summary.append(
            {
                "condition": name,
                "seeds": [r.seed for r in mine],
                "figures": condition_intervals([r.results for r in mine], budget, config.bootstrap),
                "versus": versus,
                "train_tokens": sum(r.training.get("tokens_seen", 0) for r in mine) / len(mine),
                "steps": sum(r.training.get("steps", 0) for r in mine) / len(mine),
                "train_problems": facts.get("train_problems"),
                "record_chars": facts.get("record_chars"),
                "parameters": facts.get("parameters"),
            }
        )
    return summary


def pair_differences(config: LearnConfig, runs: list[Run], budget: float) -> dict[str, dict]:
    """Per pair A:B of config.versus whose conditions both have models: A's compared figures minus B's, paired by
    problem, with their 95% intervals."""
    out = {}
    for pair in config.versus:
        ours, theirs = ([r.results for r in runs if r.condition == name] for name in config.pair(pair))
        if ours and theirs:
            out[" − ".join(config.pair(pair))] = baseline_differences(ours, theirs, budget, config.bootstrap)
    return out


def _pairs_table(differences: dict[str, dict]) -> list[str]:
    if not differences:
        return []
    lines = ["", "## Differences between conditions", "", "In points, paired by problem, with 95% intervals.", ""]
    lines += ["| pair | " + " | ".join(COMPARED) + " |", "|---|" + "---:|" * len(COMPARED)]
    return lines + [f"| {pair} | " + " | ".join(_cell(d[name], True) for name in COMPARED) + " |"
                    for pair, d in differences.items()]


def _cell(value: tuple[float, float, float], share: bool) -> str:
    mean, low, high = value
    if mean != mean:  # nan: no problems
        return "–"
    scale = 100.0 if share else 1.0
    return f"{scale * mean:.1f} [{scale * low:.1f}, {scale * high:.1f}]"


def _budget(config: LearnConfig) -> str:
    """Which comparison the table is: equal training tokens (the primary one) or equal problems."""
    if config.train.epochs is None:
        return f"Equal training tokens: each model fed {config.train.train_tokens:,} tokens."
    return f"Equal problems: each model fed {config.train.epochs:g} passes over its condition's records."


def table(
    config: LearnConfig, summary: list[dict], budget: float, level: float, command: str, seconds: float,
    differences: dict[str, dict],
) -> str:
    """The Markdown report: the table of figures per condition, the differences of config.versus, then what was
    run and how."""
    shown = figures(budget)
    versus = [f"{name} − {BASELINE}" for name in COMPARED]
    header = ["condition", *(f.name for f in shown), *versus, "training tokens", "steps", "record chars", "parameters"]
    lines = [
        f"# Does the data teach search? Countdown-{config.num_numbers}, {SPLIT_NAMES[config.evaluate_on]}",
        "",
        f"{_budget(config)} Mean and 95% bootstrap interval (problems and seeds resampled) per condition; shares in",
        f"%. Chance: legal steps taken at random solve {100 * level:.1f}% of these problems.",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for entry in summary:
        cells = [_cell(entry["figures"][f.name], f.share) for f in shown]
        cells += [_cell(entry["versus"].get(name, (float("nan"),) * 3), True) for name in COMPARED]
        facts = [f"{entry['train_tokens']:,.0f}", f"{entry['steps']:,.0f}", f"{entry['record_chars'] or 0:.0f}"]
        facts.append(f"{entry['parameters'] or 0:,}")
        lines.append(f"| {entry['condition']} | " + " | ".join(cells + facts) + " |")
    lines += ["", *(f"- {f.name}: {f.help}" for f in shown)]
    lines += [f"- {v}: the condition's {name} minus {BASELINE}'s, in points, paired by problem" for v, name in zip(
        versus, COMPARED, strict=True)]
    lines += _pairs_table(differences)
    lines += [
        "",
        "## How it was run",
        "",
        f"- command: `{command}`" if command else "- command: (called from Python)",
        f"- seeds: training {config.seeds}, problems and searches {config.seed}",
        f"- wall time of this call: {seconds:.0f} s",
        f"- machine: {platform.platform()}; {machine_line(machine(load_average()))}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in versions().items())}",
        f"- settings: `{orjson.dumps(config.to_dict()).decode()}`",
        "",
    ]
    return "\n".join(lines)


def curves(config: LearnConfig, runs: list[Run]) -> dict[str, list[tuple[float, float, float, float]]]:
    """Per condition, per point of its curve (the checkpoints, then the final model): the mean training tokens over
    its seeds and the greedy solve rate on the curve problems with its 95% interval (seeds and problems resampled)."""
    out = {}
    for name in config.trained():
        mine = [r.curve for r in runs if r.condition == name and r.curve]
        if not mine:
            continue
        points = []
        for index in range(min(map(len, mine))):
            at = [curve[index] for curve in mine]
            solved = np.array([point["correct"] for point in at], dtype=float)
            tokens = float(np.mean([point["tokens"] for point in at]))
            points.append((tokens, *bootstrap(solved, config.bootstrap, seed=index)))
        out[name] = points
    return out


def plot(path: Path, config: LearnConfig, lines: dict[str, list[tuple[float, float, float, float]]]) -> list[Path]:
    """Greedy solve rate against training tokens per condition, with its 95% interval as a band; nothing (and a note
    on stderr) without matplotlib."""
    plt = pyplot()
    if plt is None or not lines:
        return []
    fig, ax = plt.subplots(figsize=(6.6, 3.8), dpi=100)
    for name, points in lines.items():
        tokens, means, lows, highs = (np.array(column) for column in zip(*points, strict=True))
        ax.plot(tokens / 1e6, 100 * means, marker="o", markersize=3, label=name)
        ax.fill_between(tokens / 1e6, 100 * lows, 100 * highs, alpha=0.15)
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel(f"{SPLIT_NAMES[config.evaluate_on]} solved, greedy (%)")
    ax.set_title(f"solve rate vs training tokens, {config.eval.curve_problems} problems (95% intervals)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return [save_figure(fig, path)]
