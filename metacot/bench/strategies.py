"""Strategy benchmark: every search strategy on the same Countdown problems and seeds, at matched compute
budgets and several PRM noise levels; results.jsonl, a markdown table with Wilson intervals, and plots.

One row per (problem, strategy, budget, noise). The directory is resumable: rows already in results.jsonl
are not searched again, and a run with settings that would change the rows is refused.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from metacot.config import ConfigError, from_dict
from metacot.outputs.rundir import AtomicFile, differing_keys, versions, write_json_atomic
from metacot.policy.symbolic import SymbolicCountdownPolicy, SymbolicPolicyConfig
from metacot.prm.oracle import CountdownOraclePRM, OracleConfig
from metacot.problems.countdown import CountdownDomain, CountdownProblem, generate_problems
from metacot.search import SEARCHES, UNITS, Budget, Runner, make_search
from metacot.search.best_of_n import selected
from metacot.tree import Compute, SearchTree

DEFAULT_STRATEGIES = ("mcts", "astar", "beam", "best_of_n", "bfs", "dfs")
RESULTS, TABLE, MANIFEST = "results.jsonl", "table.md", "manifest.json"
BUDGET_PLOT, NOISE_PLOT = "solve_rate_vs_budget.png", "solve_rate_vs_noise.png"
COMPUTE_FIELDS = tuple(f.name for f in dataclasses.fields(Compute))
SYMBOLIC_STEP_TOKENS = 5  # "a op b = c": the symbolic policy's steps are five whitespace tokens
Z95 = 1.959963984540054


class BenchError(ValueError):
    """A benchmark directory or setting that cannot be used; the message says which and why."""


@dataclass
class BenchSettings:
    out: str = "runs/bench-strategies"
    num_problems: int = 200
    num_numbers: int = 4
    low: int = 1
    high: int = 99
    target_low: int = 10
    target_high: int = 100
    target: int | None = None  # 24 (with numbers 1..13): the Game of 24
    strategies: list[str] = field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    budgets: list[int] = field(default_factory=lambda: [20, 50, 100, 200])
    unit: str = "nodes"
    noise: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3])  # oracle flip probabilities
    mistake_rate: float = 0.1  # the symbolic policy's share of wrong steps
    expand_width: int | None = None  # children per expansion for every strategy with the setting; None: theirs
    fit: bool = True  # size best-of-N's N and beam's width to the budget
    seed: int = 0
    concurrency: int = 64

    # What the rows depend on besides their key: a directory resumed with other values is refused.
    IDENTITY = (
        "num_numbers",
        "low",
        "high",
        "target_low",
        "target_high",
        "target",
        "unit",
        "mistake_rate",
        "expand_width",
        "fit",
    )

    def identity(self) -> dict:
        return {"seed": self.seed, **{key: getattr(self, key) for key in self.IDENTITY}}

    @property
    def depth(self) -> int:
        """Steps in a Countdown solution: each combines two numbers into one."""
        return self.num_numbers - 1


@dataclass
class StrategySpec:
    """A strategy as named on the command line: a registered search and optional config overrides,
    e.g. "dfs:heuristic=prm" or "best_of_n:selection=argmax:n=16"."""

    label: str
    name: str
    overrides: dict[str, Any]

    @classmethod
    def parse(cls, text: str) -> StrategySpec:
        name, *pairs = text.strip().split(":")
        if name not in SEARCHES:
            raise BenchError(f"unknown strategy {name!r} in {text!r}: expected one of {', '.join(SEARCHES)}")
        overrides = {}
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if not eq or not key:
                raise BenchError(f"strategy {text!r}: expected key=value after ':', got {pair!r}")
            overrides[key.strip()] = _literal(value.strip())
        try:
            from_dict(SEARCHES[name][0], overrides, name)  # checks the keys and value types
        except ConfigError as error:
            raise BenchError(f"strategy {text!r}: {error}") from None
        return cls(text.strip(), name, overrides)


def _literal(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# --- configuring a strategy for a budget ---------------------------------------------------------------


def _best_of_n_cost(size: int, unit: str, depth: int, step_tokens: int, scored: bool) -> int:
    return {
        "nodes": 1 + size * depth,
        "policy_calls": 1 + size * (depth - 1),
        "generated_tokens": step_tokens * size * depth,
        "prm_calls": int(scored),
        "scored_nodes": size if scored else 0,
    }[unit]


def _beam_cost(width: int, expand: int, unit: str, depth: int, step_tokens: int) -> int:
    created = expand + width * expand * (depth - 1)  # the root's children, then expand per beam node per level
    return {
        "nodes": 1 + created,
        "policy_calls": 1 + width * (depth - 1),
        "generated_tokens": step_tokens * created,
        "prm_calls": depth,
        "scored_nodes": created,
    }[unit]


def fitted_size(cost, limit: int, cap: int = 64) -> int | None:
    """The largest size in 1..cap whose full run costs at most `limit` (1 if none does); None when the cost
    does not grow with the size (the budget does not bound it: keep the default)."""
    if cost(2) == cost(1):
        return None
    best = 1
    for size in range(1, cap + 1):
        if cost(size) <= limit:
            best = size
    return best


def strategy_config(spec: StrategySpec, unit: str, limit: int, settings: BenchSettings) -> Any:
    """The strategy's config with the budget as its only limit: own node caps off, MCTS's simulations
    generous, settings.expand_width where given; with settings.fit, best-of-N's N and beam's width (and its
    expansion width unless that is set) sized to what a full run to a solution's depth can afford."""
    config = from_dict(SEARCHES[spec.name][0], spec.overrides, spec.name)
    config.budget = Budget.of(unit, limit, max_step_tokens=SYMBOLIC_STEP_TOKENS)
    fixed_width = "expand_width" in spec.overrides
    if settings.expand_width is not None and hasattr(config, "expand_width") and not fixed_width:
        config.expand_width, fixed_width = settings.expand_width, True
    if hasattr(config, "max_nodes") and "max_nodes" not in spec.overrides:
        config.max_nodes = None
    if spec.name == "mcts" and "simulations" not in spec.overrides:
        config.simulations = 20 * limit + 100  # the budget binds first unless the tree is exhausted
    if not settings.fit:
        return config
    depth, tokens = settings.depth, SYMBOLIC_STEP_TOKENS
    if spec.name == "best_of_n" and "n" not in spec.overrides:
        scored = config.selection != "majority"
        size = fitted_size(lambda s: _best_of_n_cost(s, unit, depth, tokens, scored), limit)
        config.n = size or config.n
    if spec.name == "beam" and "beam_width" not in spec.overrides:
        if fixed_width:
            size = fitted_size(lambda s: _beam_cost(s, config.expand_width, unit, depth, tokens), limit)
            config.beam_width = size or config.beam_width
        else:
            size = fitted_size(lambda s: _beam_cost(s, s, unit, depth, tokens), limit)
            if size is not None:
                config.beam_width = config.expand_width = size
    return config


# --- running ---------------------------------------------------------------------------------------------


@dataclass
class BenchResult:
    out: Path
    rows: list[dict]  # every row in results.jsonl
    summary: list[dict]  # one per (strategy, budget, noise)
    searched: int  # rows added by this call
    seconds: float


def _key(row: dict) -> tuple:
    return (row["problem_id"], row["strategy"], row["budget"], float(row["noise"]))


def bench_problems(settings: BenchSettings) -> list[CountdownProblem]:
    return generate_problems(
        settings.num_problems,
        settings.seed,
        settings.num_numbers,
        settings.low,
        settings.high,
        settings.target_low,
        settings.target_high,
        settings.target,
    )


def check_settings(settings: BenchSettings) -> list[StrategySpec]:
    if settings.unit not in UNITS:
        raise BenchError(f"unknown budget unit {settings.unit!r}: expected one of {', '.join(UNITS)}")
    if not settings.budgets or any(type(b) is not int or b < 1 for b in settings.budgets):
        raise BenchError(f"budgets must be positive integers, got {settings.budgets}")
    if not settings.noise or any(not 0.0 <= x <= 1.0 for x in settings.noise):
        raise BenchError(f"noise levels are flip probabilities in [0, 1], got {settings.noise}")
    if settings.num_numbers < 2:
        raise BenchError(f"num_numbers must be at least 2, got {settings.num_numbers}")
    specs = [StrategySpec.parse(s) for s in settings.strategies]
    labels = [s.label for s in specs]
    if not specs or len(set(labels)) < len(labels):
        raise BenchError(f"strategies must be a non-empty list without repeats, got {labels}")
    return specs


def bench_strategies(settings: BenchSettings, progress: bool = True) -> BenchResult:
    """Search every (problem, strategy, budget, noise) not yet in settings.out, then write the table and plots."""
    specs = check_settings(settings)
    out = Path(settings.out)
    problems = bench_problems(settings)
    rows = _open(out, settings)
    done = {_key(r) for r in rows}
    cells = [(noise, spec, limit) for noise in settings.noise for spec in specs for limit in settings.budgets]
    total = len(cells) * len(problems)
    todo_count = sum(
        (p.id, spec.label, limit, float(noise)) not in done for noise, spec, limit in cells for p in problems
    )
    started = time.perf_counter()
    domain = CountdownDomain()
    policy = SymbolicCountdownPolicy(SymbolicPolicyConfig(mistake_rate=settings.mistake_rate))
    bar = tqdm(total=total, initial=total - todo_count, disable=not progress, unit="search")
    searched = 0
    with bar, (out / RESULTS).open("ab") as results:
        for noise, spec, limit in cells:
            todo = [p for p in problems if (p.id, spec.label, limit, float(noise)) not in done]
            if not todo:
                continue
            config = strategy_config(spec, settings.unit, limit, settings)
            prm = CountdownOraclePRM(OracleConfig(flip_prob=noise))
            runner = Runner(
                domain, policy, prm, make_search(spec.name, config), spec.name, settings.seed, settings.concurrency
            )
            cell_start = time.perf_counter()
            trees = list(runner.run(todo))
            ms = 1000.0 * (time.perf_counter() - cell_start) / len(todo)
            for tree in trees:
                row = result_row(tree, spec, config, settings.unit, limit, noise, ms)
                results.write(orjson.dumps(row) + b"\n")
                rows.append(row)
            results.flush()
            searched += len(trees)
            bar.update(len(trees))
    summary = summarize(rows)
    write_table(out / TABLE, summary, settings)
    plot(out, summary, game_name(settings))
    return BenchResult(out, rows, summary, searched, time.perf_counter() - started)


def result_row(
    tree: SearchTree, spec: StrategySpec, config: Any, unit: str, limit: int, noise: float, ms: float
) -> dict:
    answer_correct = None
    if spec.name == "best_of_n":  # the answer the selection rule picks, without the verifier
        choice = selected(tree, config.selection)
        answer_correct = bool(choice is not None and choice.correct)
    compute = dataclasses.asdict(tree.compute)
    return {
        "problem_id": tree.problem_id,
        "strategy": spec.label,
        "budget": limit,
        "unit": unit,
        "noise": float(noise),
        "solved": tree.solved,
        "answer_correct": answer_correct,
        **compute,
        "within_budget": config.budget.within(tree.compute),
        "ms": ms,
    }


def _open(out: Path, settings: BenchSettings) -> list[dict]:
    """Create or resume the directory; the rows already in it (a line cut short by a crash is dropped)."""
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    grid = {"strategies": list(settings.strategies), "budgets": list(settings.budgets), "noise": settings.noise}
    if manifest_path.exists():
        manifest = orjson.loads(manifest_path.read_bytes())
        differing = differing_keys(manifest.get("settings"), settings.identity())
        if differing:
            raise BenchError(
                f"{out} holds results for other settings (differing: {', '.join(differing)}); "
                "use another --out or the same settings"
            )
        manifest.update(grid=grid, resumed_at=now)
    else:
        manifest = {"settings": settings.identity(), "grid": grid, "versions": versions(), "started_at": now}
    write_json_atomic(manifest_path, manifest)
    path = out / RESULTS
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) < len(data):
        os.truncate(path, len(complete))
    rows = []
    for lineno, line in enumerate(complete.splitlines(), 1):
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError as error:
            raise BenchError(f"{path}:{lineno} is not valid JSON ({error})") from None
    return rows


# --- tables --------------------------------------------------------------------------------------------------


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% by default)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


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
            entry[name] = sum(r[name] for r in group) / n
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


def _fmt_number(x: float) -> str:
    return f"{x:g}"


TABLE_HEADER = (
    "| strategy | budget | noise | problems | solved | solve rate % | 95% CI % | answer acc % "
    "| nodes | policy calls | tokens | PRM calls | scored | within budget | ms/problem |"
)


def format_table(summary: list[dict], settings: BenchSettings | None = None) -> str:
    lines = ["# Strategy benchmark", ""]
    if settings is not None:
        lines += [describe(settings), ""]
    if summary:
        unit = summary[0]["unit"]
        noises = sorted({e["noise"] for e in summary})
        budgets = sorted({e["budget"] for e in summary})
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


def game_name(settings: BenchSettings) -> str:
    if settings.target is not None:
        return f"Countdown-{settings.num_numbers}, target {settings.target}"
    return f"Countdown-{settings.num_numbers}"


def describe(settings: BenchSettings) -> str:
    width = (
        "strategies' own expansion widths"
        if settings.expand_width is None
        else f"{settings.expand_width} children per expansion"
    )
    game = (
        f"Game of {settings.target}"
        if settings.target is not None
        else f"targets {settings.target_low}..{settings.target_high}"
    )
    return (
        f"Countdown-{settings.num_numbers} (numbers {settings.low}..{settings.high}, {game}), "
        f"{settings.num_problems} problems, seed {settings.seed}; symbolic policy (mistake rate "
        f"{settings.mistake_rate:g}); oracle PRM whose verdict flips with the given probability; budgets in "
        f"{settings.unit} per problem; {width}{'; best-of-N and beam sized to the budget' if settings.fit else ''}."
    )


def write_table(path: Path, summary: list[dict], settings: BenchSettings | None = None) -> None:
    with AtomicFile(path) as f:
        f.write(format_table(summary, settings).encode())


# --- plots ---------------------------------------------------------------------------------------------------


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")


def plot(out: Path, summary: list[dict], title: str = "") -> list[Path]:
    """Solve rate vs budget (at the lowest noise) and vs noise (at the largest budget), one line per strategy,
    with the 95% intervals shaded; nothing (and a note on stderr) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        import sys

        print("metacot: matplotlib is not installed (pip install 'metacot[bench]'): no plots", file=sys.stderr)
        return []
    if not summary:
        return []
    unit = summary[0]["unit"]
    noise0 = min(e["noise"] for e in summary)
    top = max(e["budget"] for e in summary)
    figures = [
        (BUDGET_PLOT, "budget", "noise", noise0, f"budget ({unit} per problem)", f"PRM flip probability {noise0:g}"),
        (NOISE_PLOT, "noise", "budget", top, "PRM flip probability", f"budget {top} {unit} per problem"),
    ]
    written = []
    for name, x_key, fixed_key, fixed, xlabel, subtitle in figures:
        fig, ax = plt.subplots(figsize=(6.6, 3.4), dpi=100)
        strategies = list(dict.fromkeys(e["strategy"] for e in summary))
        for index, strategy in enumerate(strategies):
            points = sorted(
                (e[x_key], e["solve_rate"], e["ci_low"], e["ci_high"])
                for e in summary
                if e["strategy"] == strategy and e[fixed_key] == fixed
            )
            if not points:
                continue
            xs, ys, lows, highs = zip(*points, strict=True)
            (line,) = ax.plot(
                xs,
                [100 * y for y in ys],
                marker=MARKERS[index % len(MARKERS)],
                linestyle=LINESTYLES[index % len(LINESTYLES)],
                markersize=4,
                linewidth=1.3,
                label=strategy,
            )
            ax.fill_between(xs, [100 * v for v in lows], [100 * v for v in highs], alpha=0.12, color=line.get_color())
        if x_key == "budget":
            ax.set_xscale("log")
            ticks = sorted({e["budget"] for e in summary})
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(t) for t in ticks])
            ax.minorticks_off()
        ax.set_ylim(0, 100)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("solved (%)")
        ax.set_title(f"{title}: {subtitle}" if title else subtitle, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        path = out / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
