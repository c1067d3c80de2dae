"""Strategy benchmark statistics and tables: Wilson intervals, one summary entry per cell, Markdown."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from metacot.outputs.files import AtomicFile
from metacot.prm.interval import wilson as wilson
from metacot.tree import Compute

COMPUTE_FIELDS = tuple(f.name for f in dataclasses.fields(Compute))


def summarize(rows: Iterable[dict]) -> list[dict]:
    """One entry per (strategy, budget, noise): strategies in first-seen order, then budget, then noise."""
    groups: dict[tuple, list[dict]] = {}
    order: dict[str, int] = {}
    for row in rows:
        order.setdefault(row["strategy"], len(order))
        groups.setdefault((row["strategy"], row["budget"], float(row["noise"])), []).append(row)
    summary = []
    for (strategy, limit, noise), group in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], *kv[0][1:])):
        n = len(group)
        solved = sum(bool(r["solved"]) for r in group)
        low, high = wilson(solved, n)
        answers = [r["answer_correct"] for r in group if r.get("answer_correct") is not None]
        entry = {
            "strategy": strategy,
            "budget": limit,
            "unit": group[0]["unit"],
            "noise": noise,
            "problems": n,
            "solved": solved,
            "solve_rate": solved / n,
            "ci_low": low,
            "ci_high": high,
            "answer_accuracy": sum(answers) / len(answers) if answers else None,
            "within_budget": all(r["within_budget"] for r in group),
            "ms": sum(r["ms"] for r in group) / n,
        }
        for name in COMPUTE_FIELDS:
            entry[name] = sum(r.get(name, 0) for r in group) / n  # rollout counters: written when not 0
        summary.append(entry)
    return summary


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def pivot(summary: list[dict], rows_key: str, cols_key: str, fixed_key: str, fixed: float) -> list[str]:
    """A markdown table of solve rates (%) with strategies as rows and budgets or noise levels as columns."""
    cells = {(e["strategy"], e[cols_key]): e for e in summary if e[fixed_key] == fixed}
    columns = sorted({c for _, c in cells})
    strategies = list(dict.fromkeys(s for s, _ in cells))
    lines = [
        f"| {rows_key} | " + " | ".join(_fmt_number(c) for c in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for strategy in strategies:
        values = [_pct(cells[strategy, c]["solve_rate"]) if (strategy, c) in cells else "–" for c in columns]
        lines.append(f"| {strategy} | " + " | ".join(values) + " |")
    return lines


def first_budget_reaching(summary: list[dict], strategy: str, share: float, noise: float = 0.0) -> int | None:
    """The smallest budget of the grid at which the strategy solves at least `share` of the problems, or None."""
    budgets = sorted(e["budget"] for e in summary if e["strategy"] == strategy and e["noise"] == noise)
    rates = {e["budget"]: e["solve_rate"] for e in summary if e["strategy"] == strategy and e["noise"] == noise}
    return next((b for b in budgets if rates[b] >= share), None)


def perfect_oracle(summary: list[dict], unit: str, share: float = 0.95) -> list[str]:
    """The section for flip probability 0: with an exact PRM, the share of the problems (all solvable by
    construction) each strategy solves at each budget, and the first budget of the grid where it reaches `share`."""
    lines = [
        f"## Perfect oracle (PRM flip probability 0): solvable problems solved (%) by budget ({unit})",
        "",
        "Every generated problem is solvable; the last column is the smallest budget of the grid at which the "
        f"strategy solves {share:.0%} of them.",
        "",
    ]
    table = pivot(summary, "strategy", "budget", "noise", 0.0)
    lines += [table[0] + f" {share:.0%} at |", table[1] + "---:|"]
    for row in table[2:]:
        strategy = row.split("|")[1].strip()
        budget = first_budget_reaching(summary, strategy, share)
        lines.append(row + (f" {budget} |" if budget is not None else " not in the grid |"))
    return lines


def _fmt_number(x: float) -> str:
    return f"{x:g}"


TABLE_HEADER = (
    "| strategy | budget | noise | problems | solved | solve rate % | 95% CI % | answer acc % "
    "| nodes | policy calls | tokens | PRM calls | scored | within budget | ms/problem |"
)


def format_table(summary: list[dict], description: str | None = None) -> str:
    """table.md: a heading (with the description of what was run), pivots of the solve rates, every entry."""
    lines = ["# Strategy benchmark", ""]
    if description is not None:
        lines += [description, ""]
    if summary:
        unit = summary[0]["unit"]
        noises = sorted({e["noise"] for e in summary})
        budgets = sorted({e["budget"] for e in summary})
        if 0.0 in noises:
            lines += perfect_oracle(summary, unit) + [""]
        for noise in noises:
            lines += [f"## Solve rate (%) by budget ({unit}), PRM flip probability {noise:g}", ""]
            lines += pivot(summary, "strategy", "budget", "noise", noise) + [""]
        lines += [f"## Solve rate (%) by PRM flip probability, budget {budgets[-1]} {unit}", ""]
        lines += pivot(summary, "strategy", "noise", "budget", budgets[-1]) + [""]
    lines += ["## All results", "", TABLE_HEADER, "|---|" + "---:|" * 14]
    for e in summary:
        accuracy = "–" if e["answer_accuracy"] is None else _pct(e["answer_accuracy"])
        lines.append(
            f"| {e['strategy']} | {e['budget']} | {e['noise']:g} | {e['problems']} | {e['solved']} | "
            f"{_pct(e['solve_rate'])} | {_pct(e['ci_low'])}–{_pct(e['ci_high'])} | {accuracy} | "
            f"{e['nodes']:.1f} | {e['policy_calls']:.1f} | {e['generated_tokens']:.1f} | {e['prm_calls']:.1f} | "
            f"{e['scored_nodes']:.1f} | {'yes' if e['within_budget'] else 'NO'} | {e['ms']:.2f} |"
        )
    lines += ["", NOTES]
    return "\n".join(lines) + "\n"


NOTES = """\
solve rate: the search created a verified solution within its budget (what a synthesis run needs to write a
trace); 95% CI: Wilson score interval; answer acc: best-of-N only, the share whose selected answer (vote or
PRM, no verifier) is correct; nodes .. scored: mean compute per problem (nodes include the root; policy
calls are expansions; PRM calls are Score requests, scored the nodes they scored); ms/problem: the cell's
wall time over its problems, with the searches of all problems in flight together."""


def write_table(path: Path, summary: list[dict], description: str | None = None) -> None:
    with AtomicFile(path) as f:
        f.write(format_table(summary, description).encode())
