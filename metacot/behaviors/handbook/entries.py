"""The behaviour handbook: named reasoning behaviours in a JSONL file, loaded, saved, merged and shown as a table."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import orjson

from metacot.jsonl import json_lines
from metacot.outputs.files import write_atomic

PREFIX = "behavior_"
# Handbooks shipped with metacot, by domain: metacot/behaviors/data/<domain>.jsonl
BUILTIN = {"countdown": "countdown.jsonl"}


class HandbookError(ValueError):
    """A malformed handbook file; the message starts with 'file:line:'."""


@dataclass
class Provenance:
    """Where a behaviour came from: the problems it was distilled on, the run and the model that distilled it."""

    problem_ids: list[str] = field(default_factory=list)
    run: str = ""
    model: str = ""


@dataclass
class Entry:
    """One behaviour: `behavior_<name>: <instruction>`, the topics it applies to, and how often it was distilled."""

    name: str
    instruction: str
    tags: list[str] = field(default_factory=list)
    provenance: Provenance = field(default_factory=Provenance)
    count: int = 1

    @property
    def line(self) -> str:
        """The behaviour as a prompt states it."""
        return f"{PREFIX}{self.name}: {self.instruction}"

    def to_dict(self) -> dict:
        return asdict(self)


def normalise_name(name: str) -> str:
    """A behaviour's name in one spelling: lower case, words joined by '_', without the 'behavior_' prefix."""
    words = re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")
    for prefix in (PREFIX, "behaviour_"):
        words = words.removeprefix(prefix)
    return words


def entry_from_dict(data: object, where: str) -> Entry:
    """An entry from one parsed JSON line; HandbookError names `where` and the field that is wrong."""
    if not isinstance(data, dict):
        raise HandbookError(f"{where}: expected a JSON object, got {type(data).__name__}")
    for key in ("name", "instruction"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise HandbookError(f"{where}: field {key!r} must be a non-empty string")
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise HandbookError(f"{where}: field 'tags' must be a list of strings")
    count = data.get("count", 1)
    if type(count) is not int or count < 1:
        raise HandbookError(f"{where}: field 'count' must be a whole number of at least 1, got {count!r}")
    prov = data.get("provenance", {})
    if not isinstance(prov, dict) or not isinstance(prov.get("problem_ids", []), list):
        raise HandbookError(f"{where}: field 'provenance' must be an object with a list 'problem_ids'")
    provenance = Provenance(
        [str(i) for i in prov.get("problem_ids", [])], str(prov.get("run", "")), str(prov.get("model", ""))
    )
    unknown = set(data) - {"name", "instruction", "tags", "provenance", "count"}
    if unknown:
        raise HandbookError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    name = normalise_name(data["name"])
    if not name:
        raise HandbookError(f"{where}: field 'name' has no letters or digits: {data['name']!r}")
    return Entry(name, data["instruction"].strip(), [t.strip().lower() for t in tags], provenance, count)


def load_handbook(path: str | Path) -> list[Entry]:
    """Every entry of a handbook file, in file order; blank lines are skipped."""
    return [entry_from_dict(data, where) for where, data in json_lines(path, HandbookError, what="a handbook entry")]


def save_handbook(entries: Iterable[Entry], path: str | Path) -> Path:
    """Write entries as JSONL (one object a line), replacing the file whole."""
    return write_atomic(path, b"".join(orjson.dumps(e.to_dict()) + b"\n" for e in entries))


def builtin_handbook(domain: str) -> Path:
    """The handbook shipped for a domain; ValueError when there is none."""
    if domain not in BUILTIN:
        raise ValueError(f"no built-in handbook for domain {domain!r}; built-in: {', '.join(BUILTIN)}")
    return Path(str(resources.files("metacot.behaviors") / "data" / BUILTIN[domain]))


def _absorb(kept: Entry, other: Entry) -> None:
    """Fold a duplicate into the entry kept: its tags, problems and count (the kept instruction stays)."""
    kept.tags = list(dict.fromkeys(kept.tags + other.tags))
    ids = kept.provenance.problem_ids + other.provenance.problem_ids
    kept.provenance.problem_ids = list(dict.fromkeys(ids))
    kept.count += other.count


Embed = Callable[[list[str]], np.ndarray]


def merge(entries: Iterable[Entry], embed: Embed | None = None, threshold: float = 0.9) -> list[Entry]:
    """Entries with duplicates folded into their first occurrence: the same normalised name, or (with `embed`)
    a cosine similarity of their lines at or above `threshold` to an entry kept before."""
    kept: list[Entry] = []
    by_name: dict[str, Entry] = {}
    for entry in entries:
        entry = copy.deepcopy(entry)
        same = by_name.get(normalise_name(entry.name))
        if same is not None:
            _absorb(same, entry)
        else:
            by_name[normalise_name(entry.name)] = entry
            kept.append(entry)
    if embed is None or len(kept) < 2:
        return kept
    vectors = unit_rows(embed([e.line for e in kept]))
    merged: list[int] = []
    for i, entry in enumerate(kept):
        near = next((j for j in merged if float(vectors[i] @ vectors[j]) >= threshold), None)
        if near is None:
            merged.append(i)
        else:
            _absorb(kept[near], entry)
    return [kept[i] for i in merged]


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero), so dot products are cosine similarities."""
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def format_table(entries: list[Entry], width: int = 72) -> str:
    """The handbook as a text table: name, count, tags, instruction (cut to `width` characters)."""
    if not entries:
        return "(empty handbook)"
    rows = [("name", "count", "tags", "instruction")]
    for e in entries:
        text = e.instruction if len(e.instruction) <= width else e.instruction[: width - 3] + "..."
        rows.append((e.name, str(e.count), ",".join(e.tags), text))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]]) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in [*widths, len("instruction")]))
    return "\n".join(line.rstrip() for line in lines)
