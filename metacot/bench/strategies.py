"""Strategy benchmark: every search strategy on the same Countdown problems and seeds, at matched compute
budgets and several PRM noise levels; results.jsonl, a markdown table with Wilson intervals, and plots.

One row per (problem, strategy, budget, noise). The directory is resumable: rows already in results.jsonl
are not searched again, and a run with settings that would change the rows is refused. This module runs the
cells; settings.py parses them, tables.py summarizes the rows and plots.py draws them.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson

from metacot.behaviors.handbook.bci import condition
from metacot.bench.plots import plot
from metacot.bench.settings import BenchError, BenchSettings, StrategySpec
from metacot.bench.tables import summarize, write_table
from metacot.conditioning import BehaviorsConfig
from metacot.config import from_dict
from metacot.outputs.files import append_to, repair_jsonl, write_json_atomic
from metacot.outputs.manifest import resumed, versions
from metacot.outputs.records import read_records
from metacot.policy.symbolic import SymbolicCountdownPolicy, SymbolicPolicyConfig
from metacot.prm.oracle import CountdownOraclePRM, OracleConfig
from metacot.problems.countdown import CountdownDomain, CountdownProblem, generate_problems
from metacot.progress import progress_bar
from metacot.search import SEARCHES, UNITS, ComputeTarget, Runner, StrategyConfig, make_search
from metacot.tree import SearchTree

RESULTS, TABLE, MANIFEST = "results.jsonl", "table.md", "manifest.json"
SYMBOLIC_STEP_TOKENS = 5  # "a op b = c": the symbolic policy's steps are five whitespace tokens


def strategy_config(spec: StrategySpec, unit: str, limit: int, settings: BenchSettings) -> StrategyConfig:
    """The strategy's config for one cell: the budget as its only limit, settings.expand_width where given (and
    not overridden), then the strategy's own sizing (`matched`: MCTS's simulations generous, with settings.fit
    best-of-N's N and beam's width sized to what a full run to a solution's depth can afford)."""
    config = from_dict(SEARCHES[spec.name][0], spec.overrides, spec.name)
    fixed = set(spec.overrides)
    if settings.expand_width is not None and hasattr(config, "expand_width") and "expand_width" not in fixed:
        config = dataclasses.replace(config, expand_width=settings.expand_width)
        fixed.add("expand_width")
    target = ComputeTarget(unit, limit, settings.depth, SYMBOLIC_STEP_TOKENS, settings.fit, frozenset(fixed))
    return config.matched(target)


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
    domain = CountdownDomain()
    # by topic, as the benchmark always retrieved: a directory's settings name the handbook alone
    behaviors = None if settings.behaviors is None else BehaviorsConfig(settings.behaviors, retrieve="topic")
    conditioning = {} if behaviors is None else condition(domain, problems, behaviors)  # a bad handbook: before out
    rows = _open(out, settings)
    done = {_key(r) for r in rows}
    cells = [(noise, spec, limit) for noise in settings.noise for spec in specs for limit in settings.budgets]
    total = len(cells) * len(problems)
    todo_count = sum(
        (p.id, spec.label, limit, float(noise)) not in done for noise, spec, limit in cells for p in problems
    )
    started = time.perf_counter()
    policy = SymbolicCountdownPolicy(SymbolicPolicyConfig(mistake_rate=settings.mistake_rate))
    bar = progress_bar(show=progress, total=total, initial=total - todo_count, unit="search")
    searched = 0
    with bar, append_to(out / RESULTS) as results:
        for noise, spec, limit in cells:
            todo = [p for p in problems if (p.id, spec.label, limit, float(noise)) not in done]
            if not todo:
                continue
            config = strategy_config(spec, settings.unit, limit, settings)
            prm = CountdownOraclePRM(OracleConfig(flip_prob=noise))
            search = make_search(spec.name, config)
            runner = Runner(
                domain, policy, prm, search, spec.name, settings.seed, settings.concurrency, budget=config.budget
            ).conditioned(conditioning)
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
    write_table(out / TABLE, summary, settings.describe())
    plot(out, summary, settings.game_name())
    return BenchResult(out, rows, summary, searched, time.perf_counter() - started)


def result_row(
    tree: SearchTree, spec: StrategySpec, config: StrategyConfig, unit: str, limit: int, noise: float, ms: float
) -> dict:
    return {
        "problem_id": tree.problem_id,
        "strategy": spec.label,
        "budget": limit,
        "unit": unit,
        "noise": float(noise),
        "solved": tree.solved,
        "answer_correct": config.answer_correct(tree),  # best-of-N: its selection, without the verifier
        **tree.compute.to_dict(),
        "within_budget": config.budget.within(tree.compute),
        "ms": ms,
    }


def _open(out: Path, settings: BenchSettings) -> list[dict]:
    """Create or resume the directory; the rows already in it (a line cut short by a crash is dropped)."""
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    grid = {"strategies": list(settings.strategies), "budgets": list(settings.budgets), "noise": settings.noise}
    manifest = resumed(manifest_path, "settings", settings.identity(), BenchError)
    if manifest is not None:
        manifest.update(grid=grid, resumed_at=now)
    else:
        manifest = {"settings": settings.identity(), "grid": grid, "versions": versions(), "started_at": now}
    write_json_atomic(manifest_path, manifest)
    path = out / RESULTS
    if not path.exists():
        return []
    repair_jsonl(path)
    return [row for _, row in read_records(path)]
