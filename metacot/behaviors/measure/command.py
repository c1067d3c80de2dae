"""The `metacot behaviors` command's work: read the records, tag them, write the rows and the plot, sum up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metacot.behaviors.measure.inputs import is_run, read_items
from metacot.behaviors.measure.registry import TaggerSettings, default_tagger, tagger_entry
from metacot.behaviors.measure.report import GroupSummary, agreement, plot, summarize, table
from metacot.behaviors.measure.tagging import counts_of, measure


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
    items = read_items(path, field)  # bad input is named before a judge model loads
    tagger = entry.make(path, settings or TaggerSettings())
    out = out or default_out(path)
    group_label = "format" if is_run(path) else "file"
    measured = measure(items, tagger, out / entry.rows, group_label, batch, progress)
    summaries = summarize([r[group_label] for r in measured.rows], [counts_of(r) for r in measured.rows])
    drawn = plot(out / entry.chart, summaries, f"{path.name}: {name} tagger")
    agreed = {}
    if agree_with is not None:
        other = tagger_entry(agree_with).make(path, settings or TaggerSettings()).tag([item.record for item in items])
        mine = [counts_of(r) for r in measured.rows]
        for group in dict.fromkeys(item.group for item in items):
            at = [i for i, item in enumerate(items) if item.group == group]
            agreed[group] = agreement([mine[i] for i in at], [other[i] for i in at])
    return BehaviorsResult(name, group_label, summaries, out / entry.rows, drawn, measured.reused, agreed)
