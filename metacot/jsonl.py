"""Lines of a file read with each line's length bounded: the one reader of every JSONL file (/dev/zero too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

# A line of a file people write: a problem, a handbook entry; far more than any within their bounds.
MAX_LINE = 1 << 20
# A line metacot writes: a tree record (every node of one search, about 300 bytes a Countdown node) or a trace
# record; a million-node tree fits, a file without newlines (/dev/zero) is refused after this many bytes.
MAX_RECORD = 1 << 28


class LineTooLong(ValueError):
    """A line longer than its reader takes; the message names the file and the line."""


def bounded_lines(path: str | Path, limit: int = MAX_LINE, start: int = 0, what: str = "a record") -> Iterator[bytes]:
    """Each line of the file from byte `start` on (its newline kept; the last one may have none), never reading more
    than `limit` + 1 bytes of one line: LineTooLong names the file and the line (its byte offset when `start` is not
    0) and says it is not `what`."""
    with Path(path).open("rb") as f:
        if start:
            f.seek(start)
        number, offset = 1, start
        while line := f.readline(limit + 1):
            if len(line) > limit:
                where = f"byte {offset}" if start else number
                raise LineTooLong(f"{path}:{where}: a line longer than {limit} bytes is not {what}")
            yield line
            number, offset = number + 1, offset + len(line)


def json_lines(
    path: str | Path, error: type[ValueError] = ValueError, limit: int = MAX_LINE, what: str = "a record"
) -> Iterator[tuple[str, Any]]:
    """Each non-blank line's JSON value with where it stands ("FILE:LINE"); `error` names the line of one that is
    not JSON or too long."""
    try:
        for number, line in enumerate(bounded_lines(path, limit, what=what), 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as problem:
                raise error(f"{where}: not valid JSON ({problem})") from None
            yield where, value
    except LineTooLong as problem:
        raise error(str(problem)) from None
