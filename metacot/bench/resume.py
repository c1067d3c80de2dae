"""Resume benchmark: how long a resumed synth takes to start its first new search, by the number of finished trees.

The run is built quickly instead of searched: a few template problems are searched for real, and the run directory
gets `trees` copies of their trees (each under its own problem id, with its traces) through the same RunDir and
TraceWriter calls a synth makes, as a run stopped (Ctrl-C, SIGTERM) after `trees` of `trees + new` problems
leaves it. Then the same synth command resumes it and searches the `new` problems left.
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from metacot.config import SynthConfig
from metacot.linearize import linearize_tree
from metacot.outputs.files import write_atomic
from metacot.outputs.rundir import RunDir
from metacot.outputs.traces import TraceWriter
from metacot.problems import make_domain, make_problems
from metacot.synth import open_run, synth
from metacot.tree import SearchTree

TEMPLATES = 50  # problems searched for real; the finished trees are copies of theirs


@dataclass
class ResumeFigures:
    """One resume of a run with `trees` finished trees and `new` problems left."""

    trees: int
    new: int
    tree_bytes: int
    trace_bytes: int
    build_seconds: float
    first_search_seconds: float  # from the call to the first new search: problems loaded, run directory opened
    total_seconds: float  # the whole resumed synth: the new searches, traces and stats included
    total_cpu_seconds: float


def bench_resume(trees: int, new: int = 10, seed: int = 0, out: str | None = None) -> ResumeFigures:
    """Build a run stopped after `trees` of `trees + new` problems (in `out`, or a temporary folder) and resume
    it."""
    if trees < 1 or new < 1:
        raise ValueError(f"--trees and --new must be at least 1, got {trees}, {new}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(out) if out is not None else Path(scratch)
        started = time.perf_counter()
        config = _build(folder, trees, new, seed)
        built = time.perf_counter() - started
        wall, cpu = time.perf_counter(), time.process_time()
        result = synth(config, progress=False)
        total, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
        first = result.resume_seconds + (total - result.seconds)  # the problems and backends come before the run
        return ResumeFigures(
            trees,
            new,
            sum(p.stat().st_size for p in Path(config.out, "trees").glob("*.jsonl")),
            sum(p.stat().st_size for p in Path(config.out, "traces").glob("*.jsonl")),
            built,
            first,
            total,
            total_cpu,
        )


def _build(folder: Path, trees: int, new: int, seed: int) -> SynthConfig:
    """A run directory in folder/run holding `trees` finished trees of `trees + new` problems, and its config."""
    templates_config = SynthConfig(seed=seed, out=str(folder / "templates"))
    templates_config.problems.num_problems = min(TEMPLATES, trees)
    synth(templates_config, progress=False)
    templates = list(RunDir(templates_config.out).iter_trees())
    problems_file = folder / "problems.jsonl"
    rows = ({**templates[i % len(templates)].problem, "id": _problem_id(i)} for i in range(trees + new))
    write_atomic(problems_file, b"".join(orjson.dumps(row) + b"\n" for row in rows))
    config = copy.deepcopy(templates_config)
    config.out = str(folder / "run")
    config.problems.file = str(problems_file)
    domain = make_domain(config.problems)
    records = [linearize_tree(tree, domain, config.linearize) for tree in templates]
    dicts = [tree.to_dict() for tree in templates]
    with RunDir(config.out) as run_dir:
        open_run(run_dir, config, make_problems(config.problems, config.seed))
        with TraceWriter(run_dir, domain, config.linearize, time.perf_counter()) as traces:
            for i in range(trees):
                tree = _Copy(templates[i % len(templates)], dicts[i % len(templates)], _problem_id(i))
                copies = {
                    fmt: {**record, "problem_id": tree.problem_id}
                    for fmt, record in records[i % len(templates)].items()
                }
                traces.add(tree, run_dir.append(tree), copies)
    return config


def _problem_id(i: int) -> str:
    return f"resume-{i:07d}"


class _Copy(SearchTree):
    """A template tree under another problem id; its record is the template's with the id changed (building a
    tree's dict is most of the cost of writing it, and a copy's nodes are the template's)."""

    def __init__(self, template: SearchTree, record: dict, problem_id: str):
        super().__init__(**{f.name: getattr(template, f.name) for f in dataclasses.fields(template)})
        self.problem_id, self.problem = problem_id, {**template.problem, "id": problem_id}
        self._record = record

    def to_dict(self) -> dict:
        return {**self._record, "problem_id": self.problem_id, "problem": self.problem}


def format_report(figures: ResumeFigures) -> str:
    f = figures
    return (
        f"resume of a run with {f.trees} finished trees ({f.tree_bytes / 1e6:.0f} MB of trees, "
        f"{f.trace_bytes / 1e6:.0f} MB of traces) and {f.new} problems left:\n"
        f"  first new search after {f.first_search_seconds:.2f} s\n"
        f"  the whole resume {f.total_seconds:.2f} s ({f.total_cpu_seconds:.2f} s CPU)\n"
        f"  (building the run took {f.build_seconds:.1f} s)"
    )
