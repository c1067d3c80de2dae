"""Tag every record of a run or a JSONL file in rounds, appending each round's rows to the tagger's file
(resumable)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import orjson

from metacot.behaviors.definitions import BEHAVIORS
from metacot.behaviors.measure.base import COLUMNS, BehaviorCounts, Tagger
from metacot.behaviors.measure.inputs import Item, Items
from metacot.jsonl import MAX_RECORD, bounded_lines
from metacot.outputs.files import AtomicFile, append_to, repair_jsonl
from metacot.progress import progress_bar
from metacot.search.breaker import RunStopped

Key = tuple[str, int, str]  # (group, record index, digest of the completion text)


def row(item: Item, counts: BehaviorCounts, tagger: str, group_key: str) -> dict:
    """One line of a tagger's rows file: where the record is, which tagger counted, the counts (null: unparsed, or
    for the strict backtracking reading, not read)."""
    out: dict = {group_key: item.group, "index": item.index, "digest": item.digest, "tagger": tagger}
    if "problem_id" in item.record:
        out["problem_id"] = item.record["problem_id"]
    return out | {name: counts.counts.get(name) for name in COLUMNS}


def counts_of(row: dict) -> BehaviorCounts:
    return BehaviorCounts({name: row.get(name) for name in COLUMNS})


def measure(
    items: Items,
    tagger: Tagger,
    path: Path,
    group_key: str,
    batch: int = 64,
    progress: bool = True,
    total: int | None = None,
) -> int:
    """Tag the items `batch` at a time, appending each round's rows to the file `path` as it completes, in the
    items' order; return how many rows were reused. A tagger with a `resume_key` (the LLM judge) is resumed: rows
    it wrote before for the same group, index and text are kept and not asked again, and the file is rewritten in
    the items' order at the end. `total`: how many items there are, for the bar."""
    resume_key = getattr(tagger, "resume_key", None)
    tagger_id = resume_key or tagger.name
    done = _earlier_rows(path, resume_key, group_key) if resume_key else {}
    kept = {item.key: done[item.key] for item in items if item.key in done} if done else {}
    _write(path, kept.values())
    bar = progress_bar(show=progress, total=total, initial=len(kept), unit="record")
    fresh: dict[Key, dict] = {}  # the new rows, while kept ones must be put back in order
    written = 0
    with bar, append_to(path) as f:
        for chunk in chunks((item for item in items if item.key not in kept), batch):
            try:
                counted = tagger.tag([item.record for item in chunk])
            except (RuntimeError, ConnectionError) as error:
                if not resume_key:
                    raise
                have = len(kept) + written
                raise RunStopped(
                    f"{tagger.name}: {error}; {path} keeps the {have} records counted so far: rerun to resume"
                ) from error
            if len(counted) != len(chunk):
                raise RuntimeError(f"tagger {tagger.name}: {len(counted)} results for {len(chunk)} records")
            lines = [row(item, c, tagger_id, group_key) for item, c in zip(chunk, counted, strict=True)]
            f.write(b"".join(orjson.dumps(line) + b"\n" for line in lines))
            f.flush()
            written += len(lines)
            if kept:
                fresh.update({(line[group_key], line["index"], line["digest"]): line for line in lines})
            bar.update(len(chunk))
    if kept:
        _write(path, (kept.get(item.key) or fresh[item.key] for item in items))
    return len(kept)


def chunks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    """The items `size` at a time."""
    while chunk := list(islice(items, size)):
        yield chunk


def read_rows(path: Path) -> Iterator[dict]:
    """The rows of a tagger's file, one at a time."""
    for line in bounded_lines(path, MAX_RECORD, what="a row of behaviour counts"):
        yield orjson.loads(line)


def _earlier_rows(path: Path, resume_key: str, group_key: str) -> dict[Key, dict]:
    """The rows an earlier run of the same tagger left (an unfinished last line, from a kill, is dropped)."""
    if not path.exists():
        return {}
    repair_jsonl(path)
    found = {}
    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            try:
                r = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({error}); remove the file to start over") from None
            if isinstance(r, dict) and r.get("tagger") == resume_key and _valid(r, group_key):
                found[(r[group_key], r["index"], r["digest"])] = r
    return found


def _valid(r: dict, group_key: str) -> bool:
    return (
        isinstance(r.get(group_key), str)
        and type(r.get("index")) is int
        and isinstance(r.get("digest"), str)
        and all(_count_ok(r.get(name, -1)) for name in BEHAVIORS)
    )


def _count_ok(n: object) -> bool:
    return n is None or (type(n) is int and n >= 0)


def _write(path: Path, rows: Iterable[dict]) -> None:
    with AtomicFile(path) as f:
        for r in rows:
            f.write(orjson.dumps(r) + b"\n")
