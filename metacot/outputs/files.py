"""Files written atomically and JSONL files repaired after a crash: what every writer of outputs shares."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any, BinaryIO

import orjson

TMP_SUFFIX = ".tmp"


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write obj as pretty, key-sorted JSON: a reader sees the old file or the new one, never a mix."""
    data = orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return write_atomic(path, data + b"\n")


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write data as the whole file at path (see AtomicFile)."""
    with AtomicFile(path) as f:
        f.write(data)
    return Path(path)


def output_target(path: str | Path) -> Path:
    """The path, checked as a place to write a file: an OSError naming it when something other than a regular file
    is there (a directory, a device such as /dev/null, a pipe, a socket), which writing would replace. Every writer
    of a file goes through here (AtomicFile, append_to); a command may call it first, to refuse before its work."""
    path = Path(path)
    try:
        mode = path.stat().st_mode  # through a link: a link to /dev/null is refused as /dev/null is
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory; name a file to write", str(path))
    if mode is not None and not stat.S_ISREG(mode):
        raise OSError(errno.EEXIST, "is not a regular file (a device, pipe or socket); not replacing it", str(path))
    return path


def append_to(path: str | Path) -> BinaryIO:
    """The file at path opened for appending (made, and its folder, when missing), checked by output_target."""
    path = output_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("ab")


def outermost_missing(path: Path) -> Path | None:
    """The outermost of `path` and its parents that does not exist (what mkdir(parents=True) would create)."""
    missing = None
    for folder in (path.absolute(), *path.absolute().parents):
        if folder.exists():
            return missing
        missing = folder
    return missing


def remove_made(folder: Path, made: Path | None) -> None:
    """Remove `folder` and its parents up to `made` (what outermost_missing found before they were made), each only
    while it is empty: a write that failed leaves no folders it made behind."""
    if made is None:
        return
    for each in (folder.absolute(), *folder.absolute().parents):
        if not each.is_relative_to(made):  # there before
            return
        try:
            each.rmdir()
        except OSError:  # not empty (another writer's file), or gone
            return


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
        self.path = output_target(path)
        self._made = outermost_missing(self.path.parent)  # removed again if the file is not written
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=TMP_SUFFIX)
        except BaseException:
            remove_made(self.path.parent, self._made)
            raise
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes files private; outputs get the usual permissions
            self._file = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            os.unlink(self._tmp)
            remove_made(self.path.parent, self._made)
            raise

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
            if exc_type is None:
                output_target(self.path)  # what appeared there while it was written is not replaced either
                os.replace(self._tmp, self.path)
                self._made = None
        except OSError as error:
            raise naming(error, self.path) from error
        finally:
            with suppress(FileNotFoundError):  # renamed into place
                os.unlink(self._tmp)
            remove_made(self.path.parent, self._made)


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
