"""The `metacot behaviors` command's work: read the records, tag them, write the rows and the plot, sum up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metacot.behaviors.inputs import read_items
from metacot.behaviors.measure import ROWS, counts_of, measure
from metacot.behaviors.registry import TaggerSettings, default_tagger, tagger_factory
from metacot.behaviors.report import GroupSummary, plot, summarize, table


@dataclass
class BehaviorsResult:
    tagger: str
    group_label: str  # "format" for a run directory, "file" for a JSONL file
    summaries: list[GroupSummary]
    rows: Path
    plot: Path | None
    reused: int

    def table(self) -> str:
        return table(self.summaries, self.group_label)


def default_out(path: Path) -> Path:
    """RUN_DIR/behaviors for a run directory, NAME-behaviors beside a JSONL file."""
    return path / "behaviors" if path.is_dir() else path.with_name(f"{path.stem}-behaviors")


def behaviors(
    path: Path,
    tagger_name: str | None = None,
    settings: TaggerSettings | None = None,
    field: str = "completion",
    out: Path | None = None,
    batch: int = 64,
    progress: bool = True,
) -> BehaviorsResult:
    """Count the four behaviours in every record under `path`, write OUT/behaviors.jsonl and OUT/behaviors.png."""
    if batch < 1:
        raise ValueError(f"--batch: must be at least 1, got {batch}")
    name = tagger_name or default_tagger(path)
    factory = tagger_factory(name)
    items = read_items(path, field)  # bad input is named before a judge model loads
    tagger = factory(path, settings or TaggerSettings())
    out = out or default_out(path)
    group_label = "format" if path.is_dir() else "file"
    measured = measure(items, tagger, out, group_label, batch, progress)
    summaries = summarize([r[group_label] for r in measured.rows], [counts_of(r) for r in measured.rows])
    drawn = plot(out, summaries, f"{path.name}: {name} tagger")
    return BehaviorsResult(name, group_label, summaries, out / ROWS, drawn, measured.reused)
