"""Reading a run's tree shards: each record and where it lies, each problem's latest tree, from the shards' indexes.

Tree shards are append-only. A problem has at most one finished record, but a failed search (a backend error) may
be followed by later records of the same problem, its retries: the latest record of a problem is its tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from metacot.outputs.ids import ProblemIds
from metacot.outputs.records import Place, placed_records, read_at
from metacot.outputs.treeindex import Entry, read_index
from metacot.tree import SearchTree

SHARD = re.compile(r"trees-(\d+)\.jsonl")


def shard_index(path: Path) -> int:
    """The number in a shard's name: trees-00012.jsonl -> 12."""
    return int(path.stem.split("-")[1])


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

    def records_after(self, seen: dict[str, int] | None = None) -> Iterator[tuple[Place, dict]]:
        """Each tree record in shard order with where it lies, skipping the first `seen[name]` bytes of each shard
        named there."""
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

    def tree_of(self, problem_id: str) -> SearchTree | None:
        """The problem's tree (its latest record), read alone: the indexes say where it lies; None if none."""
        place = None
        for entry in self.entries():
            if entry.problem_id == problem_id:
                place = entry.place
        return None if place is None else self.tree_at(place)

    def tree_at(self, place: Place) -> SearchTree:
        """The tree whose record lies at `place` (append and records_after say where)."""
        return SearchTree.from_dict(read_at(self.trees_dir / place.file, place.start))

    def iter_trees(self, seen: dict[str, int] | None = None) -> Iterator[SearchTree]:
        """Each problem's tree once, in one pass: the latest record of each problem, in shard order then line
        order, except that a failed search is held back until no later record can supersede it (those that no
        retry replaced come last). `seen`: bytes of each shard already read (records_after)."""
        held: dict[str, SearchTree] = {}
        for _, record in self.records_after(seen):
            tree = SearchTree.from_dict(record)
            held.pop(tree.problem_id, None)
            if tree.failed is None:
                yield tree
            else:
                held[tree.problem_id] = tree
        yield from held.values()
