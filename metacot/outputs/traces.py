"""Stream every finished tree's records into traces/<format>.jsonl and summarize the run in stats.json; the files
grow in place with a saved state, so a stopped run (a signal, kill -9) carries on where they end."""

from __future__ import annotations

import copy
import time
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import orjson

from metacot.linearize import LinearizeConfig, linearize_tree, resolve_formats
from metacot.linearize.layout import texts
from metacot.outputs.files import append_to, naming, write_json_atomic
from metacot.outputs.manifest import differing_keys
from metacot.outputs.records import Place
from metacot.outputs.rundir import RunDir, RunDirError
from metacot.outputs.shards import record_at, shard_index, tree_from
from metacot.problems.base import Domain
from metacot.progress import progress_bar
from metacot.tree import Compute, SearchTree
from metacot.treecheck import TreeError


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
        self.chars += len(texts(record)[1])

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


@dataclass(frozen=True)
class TreeFacts:
    """What a run's stats count of a tree: taken from the tree, or from its record without building the tree."""

    problem_id: str
    solved: bool
    failed: str | None
    nodes: int
    compute: dict[str, float]

    @classmethod
    def of(cls, tree: SearchTree) -> TreeFacts:
        return cls(tree.problem_id, tree.solved, tree.failed, len(tree.nodes), tree.compute.to_dict())

    @classmethod
    def of_record(cls, record: dict) -> TreeFacts:
        """The facts of an unsolved tree's record, without building it; TreeError for a record that is no tree."""
        nodes = record.get("nodes")
        if not isinstance(nodes, list) or not nodes or not isinstance(record.get("compute", {}), dict):
            raise TreeError("not a tree record: no list of nodes, or compute not an object")
        try:
            compute = Compute(**record.get("compute", {})).to_dict()
        except TypeError as error:
            raise TreeError(f"not a tree record ({error})") from None
        return cls(record["problem_id"], record["solved"], record.get("failed"), len(nodes), compute)


@dataclass
class TreeSummary:
    """Counts over the search trees of a run."""

    problems: int = 0
    solved: int = 0
    failed: int = 0
    nodes: int = 0
    compute: dict[str, float] = field(default_factory=dict)

    def observe(self, tree: TreeFacts) -> None:
        self.problems += 1
        self.solved += tree.solved
        self.failed += tree.failed is not None
        self.nodes += tree.nodes
        for key, value in tree.compute.items():
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


STATE = ".state.json"  # in traces/: what the trace files hold; see Written
CHECKPOINT_TREES = 100  # trees added between two saves of the state: at most what a killed run linearizes again


@dataclass
class Written:
    """What a run directory's trace files hold, as their writer last saved it (every CHECKPOINT_TREES trees, when
    it stops, when it closes): the bytes of each shard whose trees it took, the linearize settings, each file's
    size and the summaries without the failed searches, and where the records of the failed searches lie.

    A failed search's records come last, after `sizes`, written when the writer closes: a resume cuts them off
    (and anything a killed writer added after the state), so that a retry's new tree simply takes their place."""

    shards: dict[str, int]
    settings: dict
    sizes: dict[str, int]
    trees: TreeSummary
    formats: dict[str, TraceSummary]
    failed: dict[str, Place]  # problem id -> where its latest record, a failed search, lies in the shards

    def to_dict(self) -> dict:
        failed = {problem_id: [p.file, p.start, p.end] for problem_id, p in self.failed.items()}
        return {**asdict(self), "failed": failed}

    @staticmethod
    def read(run_dir: RunDir) -> Written | None:
        """The trace files' state if it can be trusted: its files at least as long as it says (a killed writer may
        have added to them); else None (rebuild them). RunDirError when it disagrees with the shards (check)."""
        try:
            raw = orjson.loads((run_dir.traces_dir / STATE).read_bytes())
            written = Written(
                {str(name): int(size) for name, size in raw["shards"].items()},
                raw["settings"],
                {str(fmt): int(size) for fmt, size in raw["sizes"].items()},
                TreeSummary(**raw["trees"]),
                {fmt: TraceSummary(**counts) for fmt, counts in raw["formats"].items()},
                {str(problem_id): Place(*where) for problem_id, where in raw["failed"].items()},
            )
            sizes = {fmt: run_dir.traces_path(fmt).stat().st_size for fmt in written.sizes}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        written.check(run_dir)
        return written if all(sizes[fmt] >= size for fmt, size in written.sizes.items()) else None

    def check(self, run_dir: RunDir) -> None:
        """RunDirError unless the shards hold, within the bytes the state covers, exactly the trees it counts (each
        problem once: its finished tree, or its failed search at the place the state names). A state the writer
        saved always agrees: one that does not was edited, or trees were lost (nothing is rebuilt from it)."""
        covered = {}  # problem id -> its latest record within the covered bytes
        for entry in run_dir.entries():
            if entry.place.end <= self.shards.get(entry.place.file, 0):
                covered[entry.problem_id] = entry
        failed = [covered.get(problem_id) for problem_id in self.failed]
        failures = all(e is not None and e.failed and e.place == self.failed[e.problem_id] for e in failed)
        counted = self.trees.problems + len(self.failed)
        if len(covered) != counted or not failures:
            raise RunDirError(
                f"{run_dir.traces_dir / STATE} counts {counted} trees ({len(self.failed)} failed searches) but "
                f"{run_dir.trees_dir} holds {len(covered)} in the bytes it covers: trees moved or lost, or the state "
                "edited? The trace files are left as they are; with every tree in place, delete the state to have "
                "them rebuilt"
            )


@dataclass(frozen=True)
class Replaced:
    """Trace files a resume rewrites because they were written with other linearize settings (by `metacot
    linearize`, or an earlier synth with other flags): the settings that differ, the files of formats it no longer
    writes (left as they were), and the note that says so."""

    keys: list[str]
    left: list[str]

    @staticmethod
    def of(kept: Written, settings: dict, formats: list[str]) -> Replaced | None:
        keys = differing_keys(kept.settings, settings)
        return Replaced(keys, sorted(f"{fmt}.jsonl" for fmt in set(kept.sizes) - set(formats))) if keys else None

    def note(self, traces: Path) -> str:
        left = f"; left as they were, without new trees: {', '.join(self.left)}" if self.left else ""
        return (
            f"{traces}: rewrote the trace files with this synth's linearize settings, which differ from those they "
            f"were written with ({', '.join(self.keys)}), e.g. by `metacot linearize`; to have those again, rerun "
            f"`metacot linearize` with them after synth (the trees are kept), or give synth the same settings{left}"
        )


class TraceWriter:
    """Linearizes each tree it is given into every configured format as it arrives, appending to the trace files.

    With `resume`, it carries on from trusted trace files (Written.read): cut back to what their state covers,
    their summaries carried on; else it writes them from nothing. catch_up() adds the trees the shards hold beyond
    that. The state is saved every CHECKPOINT_TREES trees and when the writer stops, so a stopped or killed run
    linearizes again only what came after; the failed searches' records are written last, on closing.
    """

    def __init__(
        self,
        run_dir: RunDir,
        domain: Domain,
        config: LinearizeConfig,
        started: float | None = None,
        resume: bool = False,
    ):
        """started: time.perf_counter() when the run began (stats give its wall time); None keeps the wall time
        the run directory's stats already give (rewriting traces is no run)."""
        self.run_dir, self.domain, self.config, self.started = run_dir, domain, config, started
        self.settings = linearize_settings(config)
        formats = resolve_formats(config.formats, domain)
        kept = Written.read(run_dir) if resume else None
        self.replaced = Replaced.of(kept, self.settings, formats) if kept is not None else None
        if kept is None or self.replaced is not None:  # the old state must not describe the files while rewritten
            (run_dir.traces_dir / STATE).unlink(missing_ok=True)
            kept = Written({}, self.settings, dict.fromkeys(formats, 0), TreeSummary(), {}, {})
        self.kept = kept
        self.shards, self.sizes, self.trees = dict(kept.shards), dict(kept.sizes), kept.trees
        self.formats = {fmt: kept.formats.get(fmt, TraceSummary()) for fmt in formats}
        self.failed = dict(kept.failed)
        self._since_saved = 0
        self._counting = False
        self._files: dict[str, IO[bytes]] = {}
        try:
            for fmt in formats:
                self._files[fmt] = _open_at(run_dir.traces_path(fmt), self.sizes[fmt])
        except BaseException:
            self._close_files()
            raise

    def catch_up(self, progress: bool = False) -> None:
        """Add every tree the shards hold beyond what the trace files took, in shard order. An unsolved tree that
        no format writes (linearize.include_unsolved false) is counted from its record, not built. `progress`: a
        bar of the records on stderr."""
        seen = self.shards
        total = sum(e.place.start >= seen.get(e.place.file, 0) for e in self.run_dir.entries()) if progress else None
        records = progress_bar(
            self.run_dir.records_after(seen), show=progress, total=total, unit="tree", desc="linearizing"
        )
        for where, place, record in records:
            path = self.run_dir.trees_dir / place.file
            if record.get("failed") is None and record.get("solved") is False and not self.config.include_unsolved:
                with record_at(path, where):
                    facts = TreeFacts.of_record(record)
                self._take(facts, place, {})
            else:
                self.add(tree_from(record, path, where), place)

    def add(self, tree: SearchTree, place: Place, records: dict[str, dict] | None = None) -> None:
        """Add a tree whose record lies at `place` (RunDir.append says where). A failed search's records wait for
        the close; a later tree of the same problem takes its place. records: the tree's linearized records, when
        the caller has them already."""
        if tree.failed is None and records is None:
            records = linearize_tree(tree, self.domain, self.config)
        self._take(TreeFacts.of(tree), place, records or {})

    def _take(self, tree: TreeFacts, place: Place, records: dict[str, dict]) -> None:
        lines: dict[str, bytes] = {}
        if tree.failed is None:
            lines = {fmt: orjson.dumps(record) + b"\n" for fmt, record in records.items()}
            for fmt, line in lines.items():
                self._write(fmt, line)
        self._counting = True  # counted once every line is written; a stop while counting saves no state
        if tree.failed is not None:
            self.failed[tree.problem_id] = place
        else:
            self.failed.pop(tree.problem_id, None)
            for fmt, record in records.items():
                self.sizes[fmt] += len(lines[fmt])
                self.formats[fmt].observe(record)
            self.trees.observe(tree)
        self.shards[place.file] = max(self.shards.get(place.file, 0), place.end)
        self._counting = False
        self._since_saved += 1
        if self._since_saved >= CHECKPOINT_TREES:
            self._save()

    def _write(self, fmt: str, line: bytes) -> None:
        try:
            self._files[fmt].write(line)
        except OSError as error:
            raise naming(error, self.run_dir.traces_path(fmt)) from error

    def _save(self) -> None:
        """Save the state of the files as the trees added so far left them (the failed searches' records aside)."""
        for fmt, file in self._files.items():
            try:
                file.flush()
            except OSError as error:
                raise naming(error, self.run_dir.traces_path(fmt)) from error
        written = Written(self.shards, self.settings, self.sizes, self.trees, self.formats, self.failed)
        write_json_atomic(self.run_dir.traces_dir / STATE, written.to_dict())
        self._since_saved = 0

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if kind is None:
                self._finish()
            elif not self._counting:  # stopped: save what the trees added so far left; else the last state holds
                with suppress(OSError):  # a full disk, say: the state saved last still holds
                    self._save()
        finally:
            self._close_files()

    def _finish(self) -> None:
        """Save the state, then write the failed searches' records after what it covers, and the stats."""
        self._save()
        trees, formats = copy.deepcopy(self.trees), copy.deepcopy(self.formats)  # the state keeps its own
        order = sorted(self.failed.values(), key=lambda p: (shard_index(Path(p.file)), p.start))
        for place in order:  # in the order of their records, as RunDir.iter_trees gives them
            tree = self.run_dir.tree_at(place)
            trees.observe(TreeFacts.of(tree))
            for fmt, record in linearize_tree(tree, self.domain, self.config).items():
                self._write(fmt, orjson.dumps(record) + b"\n")
                formats[fmt].observe(record)
        self._close_files()
        self.trees, self.formats = trees, formats  # the whole run's counts, for stats(); the state is saved
        self.run_dir.write_stats(self.stats())

    def _close_files(self) -> None:
        files, self._files = self._files, {}
        for fmt, file in files.items():
            try:
                file.close()
            except OSError as error:
                raise naming(error, self.run_dir.traces_path(fmt)) from error

    def stats(self) -> dict:
        stats = {**self.trees.as_dict(), "formats": {fmt: s.as_dict() for fmt, s in self.formats.items()}}
        wall = time.perf_counter() - self.started if self.started is not None else self._previous_wall_seconds()
        return {**stats, "wall_seconds": wall, "times_note": TIMES_NOTE}

    def _previous_wall_seconds(self) -> float | None:
        try:
            return orjson.loads(self.run_dir.stats_path.read_bytes()).get("wall_seconds")
        except (FileNotFoundError, orjson.JSONDecodeError, AttributeError):
            return None


def _open_at(path: Path, size: int) -> IO[bytes]:
    """The file opened for appending after its first `size` bytes (what comes after them is cut off)."""
    file = append_to(path)
    try:
        file.truncate(size)
    except BaseException:
        file.close()
        raise
    return file
