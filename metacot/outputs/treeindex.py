"""The index beside each tree shard: each record's problem id, place and failure, trusted only as far as the shard.

trees-00003.jsonl has trees-00003.idx, one JSON line [problem id, start, end, failed] per record, appended after
the record itself. A reader takes the index's lines while they tile the shard from byte 0 within its size (a kill
between the two writes, a cut line, an edited shard: the rest is not trusted) and reads the shard's bytes after
them as a scan would; the run's writer rewrites an index that did not cover its shard.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from metacot.jsonl import MAX_LINE, LineTooLong, bounded_lines
from metacot.outputs.files import AtomicFile
from metacot.outputs.records import Place, heads, id_and_failure

SUFFIX = ".idx"


@dataclass(frozen=True, slots=True)
class Entry:
    """One tree record of a shard: whose it is, where it lies, whether it is a failed search."""

    problem_id: str
    place: Place
    failed: bool

    def line(self) -> bytes:
        return orjson.dumps([self.problem_id, self.place.start, self.place.end, self.failed]) + b"\n"


def index_path(shard: Path) -> Path:
    """trees-00003.jsonl -> trees-00003.idx"""
    return shard.with_suffix(SUFFIX)


def read_index(shard: Path) -> tuple[list[Entry], bool]:
    """Every complete record of the shard, in order: the index's entries as far as they can be trusted, then those
    of the shard's bytes they do not cover (read as far as id and failure); and whether the index file is exactly
    the entries (else the writer rewrites it)."""
    path = index_path(shard)
    size = path.stat().st_size if path.exists() else 0
    entries, used = _trusted(shard, _index_lines(path), shard.stat().st_size)
    covered = entries[-1].place.end if entries else 0
    for lineno, (start, head, end) in enumerate(heads(shard, covered), len(entries) + 1):
        problem_id, failed = id_and_failure(shard, lineno, start, head)
        entries.append(Entry(problem_id, Place(shard.name, start, end), failed))
    exact = used == size and (entries[-1].place.end if entries else 0) == covered
    return entries, exact


def _index_lines(path: Path) -> Iterator[bytes]:
    """The index's complete lines, as far as they are lines an index holds (what follows is not trusted)."""
    try:
        for line in bounded_lines(path, MAX_LINE):
            if not line.endswith(b"\n"):  # a cut line
                return
            yield line[:-1]
    except (FileNotFoundError, LineTooLong):
        return


def _trusted(shard: Path, lines: Iterator[bytes], size: int) -> tuple[list[Entry], int]:
    """The index's leading entries that tile the shard from byte 0 within `size`, each over a line of the shard
    that begins with its id, and the bytes they take."""
    entries: list[Entry] = []
    end = used = 0
    with shard.open("rb") as f:
        for line in lines:
            try:
                problem_id, start, stop, failed = orjson.loads(line)
            except (orjson.JSONDecodeError, ValueError, TypeError):
                break
            if not (type(problem_id) is str and type(failed) is bool and start == end and type(stop) is int):
                break
            if not start < stop <= size or not _holds(f.fileno(), problem_id, start, stop):
                break
            entries.append(Entry(problem_id, Place(shard.name, start, stop), failed))
            end, used = stop, used + len(line) + 1
    return entries, used


def _holds(fd: int, problem_id: str, start: int, stop: int) -> bool:
    """Whether the shard has a line from `start` to `stop` that begins as RunDir writes this problem's record: two
    small reads, not the record (an edited or replaced shard is caught here, not trusted)."""
    head = orjson.dumps({"problem_id": problem_id})[:-1]
    if start:
        head = b"\n" + head
    return os.pread(fd, len(head), start - 1 if start else 0) == head and os.pread(fd, 1, stop - 1) == b"\n"


def write_index(shard: Path, entries: list[Entry]) -> None:
    """Replace the shard's index with these entries (whole, or not at all)."""
    with AtomicFile(index_path(shard)) as f:
        f.write(b"".join(entry.line() for entry in entries))
