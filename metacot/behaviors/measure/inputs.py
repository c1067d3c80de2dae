"""What `metacot behaviors` reads: a run directory's trace files or any JSONL, each record's completion text."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from metacot.jsonl import MAX_RECORD, json_lines
from metacot.linearize.layout import completion_of

# What a run directory keeps in traces/ that is not a trace format.
NOT_TRACES = ("prm_labels",)


class InputError(ValueError):
    """A file that is not what `behaviors` reads; the message names the file and line."""


@dataclass(frozen=True)
class Item:
    """One record to tag: its group (the trace format, or the file's name), its index there, and its text."""

    group: str
    index: int
    record: dict  # the record as read, its text under "completion"

    @property
    def digest(self) -> str:
        return text_digest(self.record["completion"])

    @property
    def key(self) -> tuple[str, int, str]:
        """What a row of the item's counts is found by: its group, index and the digest of its text."""
        return self.group, self.index, self.digest


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def sources(path: Path) -> list[tuple[str, Path]]:
    """(group, file) to read: a run directory's traces/<format>.jsonl by format, the JSONL files of any other
    directory (a run's prime/ folder) by name, or the JSONL file by its name."""
    if not path.exists():
        raise InputError(f"{path}: no such file or run directory")
    if not path.is_dir():
        return [(path.name, path)]
    if is_run(path):
        found = sorted(p for p in (path / "traces").glob("*.jsonl") if p.stem not in NOT_TRACES)
        return [(p.stem, p) for p in found]
    found = sorted(path.glob("*.jsonl"))
    if not found:
        raise InputError(f"{path}: a directory without trace files (expected traces/<format>.jsonl of a run)")
    return [(p.stem, p) for p in found]


def is_run(path: Path) -> bool:
    """A run directory, grouped by trace format (any other directory: by file)."""
    return (path / "traces").is_dir()


@dataclass(frozen=True)
class Items:
    """Every record of every source of `path`, in order, with its completion text under "completion": read from
    the files again on each pass, one record at a time (a run's traces are never held together)."""

    path: Path
    field: str = "completion"

    def __iter__(self) -> Iterator[Item]:
        for group, file in sources(self.path):
            yield from read_file(group, file, self.field)

    def count(self) -> int:
        """How many there are, every record read and checked (an InputError names a bad one)."""
        return sum(1 for _ in self)


def read_file(group: str, path: Path, field: str) -> Iterator[Item]:
    """The records of one JSONL file (blank lines skipped); an InputError names the line of a bad one."""
    for index, (where, record) in enumerate(json_lines(path, InputError, MAX_RECORD)):
        if not isinstance(record, dict):
            raise InputError(f"{where}: not a JSON object")
        text = completion_of(record, field)
        if text is None:
            raise InputError(
                f"{where}: no text field {field!r} (nor chat 'messages' with an assistant turn); "
                "--field names the field that holds the completion"
            )
        yield Item(group, index, {**record, "completion": text})
