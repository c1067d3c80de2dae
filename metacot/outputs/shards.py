"""Reading a run's tree shards: each record and where it lies, each problem's latest tree, from the shards' indexes.

Tree shards are append-only. A problem has at most one finished record, but a failed search (a backend error) may
be followed by later records of the same problem, its retries: the latest record of a problem is its tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from metacot.outputs.ids import ProblemIds
from metacot.outputs.records import Place, RunDirError, placed_records, read_at
from metacot.outputs.treeindex import Entry, read_index
from metacot.tree import SearchTree
from metacot.treecheck import TreeError

SHARD = re.compile(r"trees-(\d+)\.jsonl")
STATS = "stats.json"  # what the run's trace writer counted (outputs.traces)


def shard_index(path: Path) -> int:
    """The number in a shard's name: trees-00012.jsonl -> 12."""
    return int(path.stem.split("-")[1])


@contextmanager
def record_at(path: Path, where: int | str) -> Iterator[None]:
    """Turn a damaged tree record's TreeError into a RunDirError naming its file and line (or byte offset)."""
    try:
        yield
    except TreeError as error:
        raise RunDirError(f"{path}:{where}: {error}") from None


def tree_from(record: dict, path: Path, where: int | str) -> SearchTree:
    """The tree of the record read at `where` in `path`, checked (SearchTree.from_dict); RunDirError naming both."""
    with record_at(path, where):
        return SearchTree.from_dict(record)


def stats_count(path: Path) -> int | None:
    """The number of trees a run's stats.json counts; None without a readable count."""
    try:
        problems = orjson.loads(path.read_bytes()).get("problems")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return None
    return problems if type(problems) is int else None


def note(entry: Entry, done: ProblemIds, failed: ProblemIds) -> None:
    """Note a record as its problem's latest: in `done`, and in `failed` exactly when its search failed."""
    done.add(entry.problem_id)
    if entry.failed:
        failed.add(entry.problem_id)
    else:
        failed.discard(entry.problem_id)


class TreeShards:
    """The tree shards of the run at `path` (its trees/ folder), read as they are now."""

    path: Path

    @property
    def trees_dir(self) -> Path:
        return self.path / "trees"

    def shard_path(self, index: int) -> Path:
        return self.trees_dir / f"trees-{index:05d}.jsonl"

    def shards(self) -> list[Path]:
        """The tree shard files in order."""
        if not self.trees_dir.is_dir():
            return []
        found = [(int(m[1]), p) for p in self.trees_dir.iterdir() if (m := SHARD.fullmatch(p.name))]
        return [p for _, p in sorted(found)]

    def shard_sizes(self) -> dict[str, int]:
        """Each shard's name and size in bytes: what a reader has seen of the shards (they only grow)."""
        return {shard.name: shard.stat().st_size for shard in self.shards()}

    def records_after(self, seen: dict[str, int] | None = None) -> Iterator[tuple[int | str, Place, dict]]:
        """Each tree record in shard order with its line number (its byte offset past `seen`) and where it lies,
        skipping the first `seen[name]` bytes of each shard named there."""
        seen = seen or {}
        for shard in self.shards():
            yield from placed_records(shard, seen.get(shard.name, 0))

    def entries(self) -> Iterator[Entry]:
        """Each tree record's problem id, place and failure, in shard order, from the shards' indexes (and the shard
        bytes they do not cover): no tree is read."""
        for shard in self.shards():
            yield from read_index(shard)[0]

    def finished(self) -> int:
        """How many problems' latest records are finished (not failed) searches, counted from the shards as they
        are: a signal may stop a writer after its writes and before its bookkeeping."""
        latest, failed = ProblemIds(), ProblemIds()
        for entry in self.entries():
            note(entry, latest, failed)
        return len(latest) - len(failed)

    def check_held(self) -> int:
        """How many problems the shards hold a tree of; RunDirError when trees/ is missing or holds fewer than the
        run's stats.json counts (trees moved or lost: a reader would silently leave them out)."""
        if not self.trees_dir.is_dir():
            raise RunDirError(f"{self.trees_dir}: no such folder (the run's trees moved or deleted?)")
        held = len(ProblemIds(entry.problem_id for entry in self.entries()))
        counted = stats_count(self.path / STATS)
        if counted is not None and counted > held:
            raise RunDirError(
                f"{self.path / STATS} counts {counted} trees but {self.trees_dir} holds {held}: trees moved or lost?"
            )
        return held

    def tree_of(self, problem_id: str) -> SearchTree | None:
        """The problem's tree (its latest record), read alone: the indexes say where it lies; None if none."""
        found = None
        for shard in self.shards():
            for lineno, entry in enumerate(read_index(shard)[0], 1):
                if entry.problem_id == problem_id:
                    found = entry.place, lineno
        return None if found is None else self.tree_at(*found)

    def tree_at(self, place: Place, lineno: int | None = None) -> SearchTree:
        """The tree whose record lies at `place` (append and records_after say where), on line `lineno` of its
        shard if known (a damaged one's error names it, else its byte offset)."""
        path = self.trees_dir / place.file
        return tree_from(read_at(path, place.start), path, lineno or f"byte {place.start}")

    def iter_trees(self, seen: dict[str, int] | None = None) -> Iterator[SearchTree]:
        """Each problem's tree once, in one pass: the latest record of each problem, in shard order then line
        order, except that a failed search is held back until no later record can supersede it (those that no
        retry replaced come last). `seen`: bytes of each shard already read (records_after)."""
        if seen is None:
            self.check_held()
        held: dict[str, SearchTree] = {}
        for where, place, record in self.records_after(seen):
            tree = tree_from(record, self.trees_dir / place.file, where)
            held.pop(tree.problem_id, None)
            if tree.failed is None:
                yield tree
            else:
                held[tree.problem_id] = tree
        yield from held.values()


# A tree's place packed in one int (a few dozen bytes, where a Place and its line number take a few hundred): its
# shard's number in the run's shards, its line number there, the byte it starts at, and whether it is a failed search.
_START_BITS, _LINE_BITS = 40, 32  # up to 1 TB a shard, 4 billion lines


class TreeLookup:
    """Where each problem's tree (its latest record) lies, from the shards' indexes, one int a problem: a reader
    that needs any tree at any time reads it from its shard when it does, instead of holding the run's trees."""

    def __init__(self, shards: TreeShards):
        shards.check_held()
        self._shards = shards
        self._files = shards.shards()
        self._found: dict[str, int] = {}
        for number, shard in enumerate(self._files):
            for lineno, entry in enumerate(read_index(shard)[0], 1):
                found = ((number << _LINE_BITS | lineno) << _START_BITS | entry.place.start) << 1 | entry.failed
                self._found[entry.problem_id] = found

    def get(self, problem_id: str) -> SearchTree | None:
        """The problem's tree; None when the run has none."""
        found = self._found.get(problem_id)
        return None if found is None else self.tree(found)

    def finished(self) -> list[int]:
        """Where each finished search's tree lies (for tree()), in the order iter_trees gives them."""
        return sorted(found for found in self._found.values() if not found & 1)

    def tree(self, found: int) -> SearchTree:
        """The tree that lies at `found` (get, finished)."""
        start = found >> 1 & ((1 << _START_BITS) - 1)
        lineno = found >> (1 + _START_BITS) & ((1 << _LINE_BITS) - 1)
        shard = self._files[found >> (1 + _START_BITS + _LINE_BITS)]
        return self._shards.tree_at(Place(shard.name, start, start), lineno)
