"""The `metacot behaviors` command's work: read the records, tag them, write the rows and the plot, sum up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from metacot.behaviors.measure.base import COLUMNS, BehaviorCounts
from metacot.behaviors.measure.inputs import InputError, Item, Items, is_run
from metacot.behaviors.measure.registry import TaggerSettings, default_tagger, tagger_entry
from metacot.behaviors.measure.report import (
    Agreement,
    GroupSummary,
    agreement_table,
    plot,
    recall_table,
    summarize,
    table,
)
from metacot.behaviors.measure.tagging import chunks, counts_of, measure, read_rows


@dataclass
class BehaviorsResult:
    tagger: str
    group_label: str  # "format" for a run directory, "file" for a JSONL file
    summaries: list[GroupSummary]
    rows: Path
    plot: Path | None
    reused: int
    agreement: dict[str, Agreement]  # with --agree-with: per group, the rows against the other tagger's counts
    labelled: dict[str, Agreement]  # with --labels: per group, the rows against the records' hand labels

    def table(self) -> str:
        return table(self.summaries, self.group_label)

    def agreement_table(self) -> str:
        return agreement_table(self.agreement, self.group_label)

    def recall_table(self, tallies: dict[str, Agreement]) -> str:
        return recall_table(tallies, self.group_label)


def default_out(path: Path) -> Path:
    """DIR/behaviors for a directory, NAME-behaviors beside a JSONL file."""
    return path / "behaviors" if path.is_dir() else path.with_name(f"{path.stem}-behaviors")


def behaviors(
    path: Path,
    tagger_name: str | None = None,
    settings: TaggerSettings | None = None,
    field: str = "completion",
    out: Path | None = None,
    batch: int = 64,
    progress: bool = True,
    agree_with: str | None = None,
    labels: str | None = None,
) -> BehaviorsResult:
    """Count the four behaviours in every record under `path`, write the tagger's rows and chart into OUT (e.g.
    OUT/structural.jsonl and OUT/structural.png: each tagger its own files); with agree_with, also tag the records
    with that tagger and compare the counts, per group; with labels, compare them with the hand labels each record
    holds in that field ({behaviour: true/false or a count})."""
    if batch < 1:
        raise ValueError(f"--batch: must be at least 1, got {batch}")
    name = tagger_name or default_tagger(path)
    entry = tagger_entry(name)
    items = Items(path, field)
    total = items.count()  # bad input is named before a judge model loads, and before OUT is made
    if labels is not None:
        for item in items:
            hand_counts(item, labels)
    other = tagger_entry(agree_with).make(path, settings or TaggerSettings()) if agree_with is not None else None
    tagger = entry.make(path, settings or TaggerSettings())
    out = out or default_out(path)
    rows = out / entry.rows
    group_label = "format" if is_run(path) else "file"
    reused = measure(items, tagger, rows, group_label, batch, progress, total)
    summaries = summarize((r[group_label], counts_of(r)) for r in read_rows(rows))
    drawn = plot(out / entry.chart, summaries, f"{path.name}: {name} tagger")
    agreed = {}
    if other is not None:
        agreed = compare(items, read_rows(rows), lambda chunk: other.tag([i.record for i in chunk]), batch)
    labelled = {}
    if labels is not None:
        labelled = compare(items, read_rows(rows), lambda chunk: [hand_counts(i, labels) for i in chunk], batch)
    return BehaviorsResult(name, group_label, summaries, rows, drawn, reused, agreed, labelled)


def compare(
    items: Items, rows: Iterator[dict], reference: Callable[[list[Item]], list[BehaviorCounts]], batch: int
) -> dict[str, Agreement]:
    """Per group, the rows (one per item, in order) against the reference's counts of the items, `batch` items at
    a time."""
    tallies: dict[str, Agreement] = {}
    for chunk in chunks(iter(items), batch):
        counted = reference(chunk)
        for item, theirs in zip(chunk, counted, strict=True):
            tallies.setdefault(item.group, Agreement()).add(counts_of(next(rows)), theirs)
    return tallies


def hand_counts(item: Item, field: str) -> BehaviorCounts:
    """The hand labels a record holds in `field`: per behaviour labelled, true/false (presence) or a count; the
    behaviours it does not label are not compared."""
    labels = item.record.get(field)
    where = f"{item.group}, record {item.index + 1}: --labels {field}"
    if not isinstance(labels, dict) or not labels:
        raise InputError(f"{where}: expected an object of behaviour: true/false or a count, got {labels!r}")
    unknown = [name for name in labels if name not in COLUMNS]
    if unknown:
        raise InputError(f"{where}: unknown behaviour {unknown[0]!r}; known: {', '.join(COLUMNS)}")
    bad = [name for name, v in labels.items() if not (type(v) is bool or (type(v) is int and v >= 0))]
    if bad:
        raise InputError(f"{where}: {bad[0]}: expected true/false or a count, got {labels[bad[0]]!r}")
    return BehaviorCounts({name: int(labels[name]) if name in labels else None for name in COLUMNS})
