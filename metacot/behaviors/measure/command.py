"""The `metacot behaviors` command's work: read the records, tag them, write the rows and the plot, sum up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from metacot.behaviors.measure.base import Tagger
from metacot.behaviors.measure.inputs import Items, is_run
from metacot.behaviors.measure.registry import TaggerSettings, default_tagger, tagger_entry
from metacot.behaviors.measure.report import Agreement, GroupSummary, plot, summarize, table
from metacot.behaviors.measure.tagging import chunks, counts_of, measure, read_rows


@dataclass
class BehaviorsResult:
    tagger: str
    group_label: str  # "format" for a run directory, "file" for a JSONL file
    summaries: list[GroupSummary]
    rows: Path
    plot: Path | None
    reused: int
    agreement: dict[str, dict[str, float]]  # with --agree-with: group -> behaviour -> share of records agreeing

    def table(self) -> str:
        return table(self.summaries, self.group_label)


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
) -> BehaviorsResult:
    """Count the four behaviours in every record under `path`, write the tagger's rows and chart into OUT (e.g.
    OUT/structural.jsonl and OUT/structural.png: each tagger its own files); with agree_with, also tag the records
    with that tagger and report, per group, how often the two agree."""
    if batch < 1:
        raise ValueError(f"--batch: must be at least 1, got {batch}")
    name = tagger_name or default_tagger(path)
    entry = tagger_entry(name)
    items = Items(path, field)
    total = items.count()  # bad input is named before a judge model loads
    tagger = entry.make(path, settings or TaggerSettings())
    out = out or default_out(path)
    rows = out / entry.rows
    group_label = "format" if is_run(path) else "file"
    reused = measure(items, tagger, rows, group_label, batch, progress, total)
    summaries = summarize((r[group_label], counts_of(r)) for r in read_rows(rows))
    drawn = plot(out / entry.chart, summaries, f"{path.name}: {name} tagger")
    agreed = {}
    if agree_with is not None:
        other = tagger_entry(agree_with).make(path, settings or TaggerSettings())
        agreed = agreements(items, read_rows(rows), other, batch)
    return BehaviorsResult(name, group_label, summaries, rows, drawn, reused, agreed)


def agreements(items: Items, rows: Iterator[dict], other: Tagger, batch: int) -> dict[str, dict[str, float]]:
    """Per group, how often `other` agrees with the rows (one per item, in order), tagging `batch` items at a
    time."""
    tallies: dict[str, Agreement] = {}
    for chunk in chunks(iter(items), batch):
        counted = other.tag([item.record for item in chunk])
        for item, theirs in zip(chunk, counted, strict=True):
            tallies.setdefault(item.group, Agreement()).add(counts_of(next(rows)), theirs)
    return {group: tally.shares() for group, tally in tallies.items()}
