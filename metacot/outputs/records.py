"""Reading JSONL records keyed by problem_id: whole, with where each lies, or only a tree record's id and failure."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from metacot.jsonl import MAX_RECORD, LineTooLong, bounded_lines


class RunDirError(ValueError):
    """A run directory that cannot be used as asked; the message names the directory, or the file and line."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a record lies: its file's name and the byte offsets of its line (end: just past the newline)."""

    file: str
    start: int
    end: int


WRITTEN = "a record metacot wrote"  # what a line of a tree shard or trace file is, unless too long


def lines(path: Path, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) per complete line of a file from byte `start` on; an unterminated last line is an
    unfinished write: left out. A line longer than a record can be is an error naming the file (jsonl)."""
    for line in bounded_lines(path, MAX_RECORD, start, WRITTEN):
        if not line.endswith(b"\n"):
            return
        yield start, line
        start += len(line)


HEAD = 4096  # bytes of a line that heads() gives: a tree record's id and failure come well within them
CHUNK = 1 << 22


def heads(path: Path, start: int = 0) -> Iterator[tuple[int, bytes, int]]:
    """(byte offset, first HEAD bytes, offset just past the newline) per complete line from byte `start` on, without
    building whole lines (a tree's line is long): of a line that spans chunks only its head is kept."""
    with path.open("rb") as f:
        f.seek(start)
        head, line_start, offset = b"", start, start  # the current line's head so far, where it starts; chunk's offset
        while chunk := f.read(CHUNK):
            pos = 0
            while (newline := chunk.find(b"\n", pos)) >= 0:
                yield line_start, head + chunk[pos : min(newline + 1, pos + HEAD - len(head))], offset + newline + 1
                head, pos, line_start = b"", newline + 1, offset + newline + 1
            head += chunk[pos : pos + HEAD - len(head)]
            offset += len(chunk)
            if offset - line_start > MAX_RECORD:
                where = f"{path}:byte {line_start}"
                raise LineTooLong(f"{where}: a line longer than {MAX_RECORD} bytes is not {WRITTEN}")


def parse(path: Path, where: int | str, line: bytes) -> dict:
    """The record of one complete line; RunDirError naming the file and `where` (a line number or byte offset)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise RunDirError(f"{path}:{where} is a complete line but not valid JSON ({e})") from None
    if not isinstance(record, dict) or "problem_id" not in record:
        raise RunDirError(f"{path}:{where} is not a record (no problem_id)")
    return record


def read_records(path: Path, start: int = 0) -> Iterator[tuple[int | str, dict]]:
    """(line number, record) per complete line of a JSONL file of records keyed by problem_id (trees, benchmark
    rows), from byte `start` on (then the line's byte offset stands for its number)."""
    for where, _, record in placed_records(path, start):
        yield where, record


def placed_records(path: Path, start: int = 0) -> Iterator[tuple[int | str, Place, dict]]:
    """(line number, where it lies, record) per complete line from byte `start` on (then the line's byte offset
    stands for its number)."""
    for lineno, (offset, line) in enumerate(lines(path, start), 1):
        where: int | str = lineno if not start else f"byte {offset}"
        yield where, Place(path.name, offset, offset + len(line)), parse(path, where, line)


def read_at(path: Path, start: int) -> dict:
    """The record of the line that starts at byte `start`."""
    for _, line in lines(path, start):
        return parse(path, f"byte {start}", line)
    raise RunDirError(f"{path}: no complete line at byte {start}")


# A tree record as RunDir writes it begins {"problem_id": ..., "problem": {...}, "search": ..., "solved": ...,
# "failed": ...}: its id and failure can be read without parsing its nodes. JSON strings hold no bare quote, so
# these patterns cannot match inside one.
_STRING = rb'"(?:[^"\\]|\\.)*"'
_HEAD = re.compile(rb'\{"problem_id":(' + _STRING + rb'),"problem":')
_GROUPING = re.compile(_STRING + rb"|[{}\[\]]")
_AFTER_PROBLEM = re.compile(rb',"search":' + _STRING + rb',"solved":(?:true|false),"failed":(null|")')


def id_and_failure(path: Path, where: int | str, start: int, line: bytes) -> tuple[str, bool]:
    """A tree record's problem id and whether it is a failed search, read from the start of its line, which lies
    at byte `start` (`line` may be the line's head alone: heads(); the whole line is read and parsed only when
    its head does not hold them as RunDir writes them)."""
    head = _HEAD.match(line)
    end = _skip_value(line, head.end()) if head else None
    after = _AFTER_PROBLEM.match(line, end) if head and end is not None else None
    if head is None or after is None:
        record = parse(path, where, next(lines(path, start))[1])
        return record["problem_id"], record.get("failed") is not None
    problem_id = orjson.loads(head[1])
    return problem_id, after[1] == b'"'


def _skip_value(line: bytes, start: int) -> int | None:
    """The offset just past the JSON object or array at `start`, or None if none starts there or it does not end."""
    if line[start : start + 1] not in (b"{", b"["):
        return None
    depth = 0
    for token in _GROUPING.finditer(line, start):
        if token[0] in (b"{", b"["):
            depth += 1
        elif token[0] in (b"}", b"]"):
            depth -= 1
            if depth == 0:
                return token.end()
    return None
