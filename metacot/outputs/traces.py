"""Stream every finished tree's records into traces/<format>.jsonl and summarize the run in stats.json."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from types import TracebackType

import orjson

from metacot.linearize import LinearizeConfig, linearize_tree, resolve_formats
from metacot.outputs.files import write_json_atomic
from metacot.outputs.rundir import RunDir
from metacot.problems.base import Domain
from metacot.tree import SearchTree


@dataclass
class TraceSummary:
    """Counts over the records of one format."""

    records: int = 0
    correct: int = 0
    with_backtracks: int = 0
    backtracks: int = 0
    chars: int = 0

    def observe(self, record: dict) -> None:
        self.records += 1
        self.correct += record["correct"]
        self.with_backtracks += record["num_backtracks"] > 0
        self.backtracks += record["num_backtracks"]
        self.chars += len(record["completion"])

    def as_dict(self) -> dict:
        n = self.records or 1
        return {
            "records": self.records,
            "correct": self.correct,
            "with_backtracks": self.with_backtracks,
            "mean_backtracks": self.backtracks / n,
            "mean_completion_chars": self.chars / n,
        }


def linearize_settings(config: LinearizeConfig) -> dict:
    """The linearize settings as they read back from JSON: kept trace files must have been written with them."""
    return orjson.loads(orjson.dumps(asdict(config)))


SUMMED_TIME = "search_seconds_summed"
TIMES_NOTE = (
    "compute.search_seconds_summed adds up each search's own wall time; searches run concurrently, so it can "
    "exceed wall_seconds, the time the synth call took to search, linearize and write"
)


@dataclass
class TreeSummary:
    """Counts over the search trees of a run."""

    problems: int = 0
    solved: int = 0
    failed: int = 0
    nodes: int = 0
    compute: dict[str, float] = field(default_factory=dict)

    def observe(self, tree: SearchTree) -> None:
        self.problems += 1
        self.solved += tree.solved
        self.failed += tree.failed is not None
        self.nodes += len(tree.nodes)
        for key, value in tree.compute.to_dict().items():
            key = SUMMED_TIME if key == "wall_time" else key
            self.compute[key] = self.compute.get(key, 0) + value

    def as_dict(self) -> dict:
        n = self.problems or 1
        return {
            "problems": self.problems,
            "solved": self.solved,
            "failed": self.failed,
            "solve_rate": self.solved / n,
            "mean_nodes": self.nodes / n,
            "compute": self.compute,
        }


STATE = ".state.json"  # in traces/: what the trace files hold, written after them; see Written


@dataclass
class Written:
    """What a run directory's trace files hold, as their last writer left them: the bytes of each shard whose
    trees they hold, the linearize settings, each file's size, the summaries, and the failed trees among them.
    A resume keeps those records and linearizes only the trees written since."""

    shards: dict[str, int]
    settings: dict
    sizes: dict[str, int]
    trees: TreeSummary
    formats: dict[str, TraceSummary]
    failed: list[str]

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def read(run_dir: RunDir, settings: dict) -> Written | None:
        """The trace files' state if they can be trusted with these settings: written by a writer that closed
        without an error, unchanged since, their shards still there; else None (rebuild them)."""
        try:
            raw = orjson.loads((run_dir.traces_dir / STATE).read_bytes())
            written = Written(
                raw["shards"],
                raw["settings"],
                raw["sizes"],
                TreeSummary(**raw["trees"]),
                {fmt: TraceSummary(**counts) for fmt, counts in raw["formats"].items()},
                raw["failed"],
            )
            shards = run_dir.shard_sizes()
            sizes = {fmt: run_dir.traces_path(fmt).stat().st_size for fmt in written.sizes}
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return None
        intact = all(shards.get(name, -1) >= size for name, size in written.shards.items())
        return written if intact and written.settings == settings and sizes == written.sizes else None


class TraceWriter:
    """Linearizes each tree it is given into every configured format as it arrives.

    The trace files replace the old ones only when the writer closes without an error, so after a crash the
    run directory's traces are those of the last finished run. With `kept` (Written.read), the new files start
    as copies of the old ones and their summaries carry on; else they are written from nothing.
    """

    def __init__(
        self,
        run_dir: RunDir,
        domain: Domain,
        config: LinearizeConfig,
        started: float | None = None,
        kept: Written | None = None,
    ):
        """started: time.perf_counter() when the run began (stats give its wall time); None keeps the wall time
        the run directory's stats already give (rewriting traces is no run)."""
        self.run_dir, self.domain, self.config, self.started = run_dir, domain, config, started
        formats = resolve_formats(config.formats, domain)
        self.trees = kept.trees if kept else TreeSummary()
        self.formats = kept.formats if kept else {fmt: TraceSummary() for fmt in formats}
        self.failed = list(kept.failed) if kept else []
        self._stack = ExitStack()
        self._files = {fmt: self._stack.enter_context(run_dir.open_traces(fmt, kept is not None)) for fmt in formats}

    def add(self, tree: SearchTree) -> None:
        self.trees.observe(tree)
        if tree.failed is not None:
            self.failed.append(tree.problem_id)
        for fmt, record in linearize_tree(tree, self.domain, self.config).items():
            self._files[fmt].write(orjson.dumps(record) + b"\n")
            self.formats[fmt].observe(record)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:  # the old state must not outlive the files it describes, even for a moment
            (self.run_dir.traces_dir / STATE).unlink(missing_ok=True)
        self._stack.__exit__(kind, error, tb)
        if kind is None:
            self.run_dir.write_stats(self.stats())
            write_json_atomic(self.run_dir.traces_dir / STATE, self._written().to_dict())

    def _written(self) -> Written:
        sizes = {fmt: self.run_dir.traces_path(fmt).stat().st_size for fmt in self.formats}
        shards = self.run_dir.shard_sizes()
        return Written(shards, linearize_settings(self.config), sizes, self.trees, self.formats, self.failed)

    def stats(self) -> dict:
        stats = {**self.trees.as_dict(), "formats": {fmt: s.as_dict() for fmt, s in self.formats.items()}}
        wall = time.perf_counter() - self.started if self.started is not None else self._previous_wall_seconds()
        return {**stats, "wall_seconds": wall, "times_note": TIMES_NOTE}

    def _previous_wall_seconds(self) -> float | None:
        try:
            return orjson.loads(self.run_dir.stats_path.read_bytes()).get("wall_seconds")
        except (FileNotFoundError, orjson.JSONDecodeError, AttributeError):
            return None
