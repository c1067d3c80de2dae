"""Files written atomically and JSONL files repaired after a crash: what every writer of outputs shares."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

TMP_SUFFIX = ".tmp"


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write obj as pretty, key-sorted JSON: a reader sees the old file or the new one, never a mix."""
    data = orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    with AtomicFile(path) as f:
        f.write(data + b"\n")
    return Path(path)


def naming(error: OSError, path: str | Path) -> OSError:
    """The same error with the path in its message, for errors that come without one (a full disk on write); one
    without an errno (a library's own OSError) as an OSError whose reason is its text."""
    if error.filename is not None:
        return error
    if error.errno is None:
        return OSError(None, str(error), str(path))
    return type(error)(error.errno, error.strerror, str(path))


class AtomicFile:
    """A file that appears at its path only when closed without an error: readers see the old or the new one."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=TMP_SUFFIX)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes files private; outputs get the usual permissions
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as error:
            raise naming(error, self.path) from error

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            self._file.close()  # the last buffered bytes are written here: a full disk may show only now
        except OSError as error:
            os.unlink(self._tmp)
            raise naming(error, self.path) from error
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            os.unlink(self._tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def has_unfinished_line(path: Path) -> bool:
    """Whether the file ends in an unterminated line: a write that a crash cut short."""
    return _complete_size(path) != path.stat().st_size


def repair_jsonl(path: Path) -> bool:
    """Cut an unfinished last line off a JSONL file, so that appending goes on after the last complete record;
    whether there was one."""
    size = _complete_size(path)
    if size == path.stat().st_size:
        return False
    os.truncate(path, size)
    return True


def _complete_size(path: Path, chunk: int = 1 << 16) -> int:
    """The file's size up to and including its last newline."""
    with path.open("rb") as f:
        end = f.seek(0, os.SEEK_END)
        while end > 0:
            start = max(0, end - chunk)
            f.seek(start)
            newline = f.read(end - start).rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return 0
