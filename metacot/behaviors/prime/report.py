"""The habit table of priming datasets: the share of records showing each habit (structural tagger), and whether
each variant keeps its rule (named habits in >= 90% of records, excluded ones in <= 2%, answers right or wrong)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from metacot.behaviors.definitions import BEHAVIORS
from metacot.behaviors.measure.structural import StructuralTagger
from metacot.behaviors.prime.variants import variant
from metacot.outputs.records import read_records

SHOWN, EXCLUDED = 0.90, 0.02  # the rule: named habits in at least SHOWN of records, excluded ones in at most EXCLUDED


@dataclass
class VariantRow:
    """One variant's records: how many, the share showing each habit, the share answering correctly."""

    variant: str
    records: int
    shares: dict[str, float]
    correct: float
    broken: list[str]  # what breaks the rule, in words; empty when it holds


def variant_row(tagger: StructuralTagger, path: Path) -> VariantRow:
    """Tag one priming file with the structural tagger, a record at a time, and check its variant's rule."""
    name, records, showing, right = None, 0, Counter[str](), 0
    for _, record in read_records(path):
        if name is None:
            name = record["variant"]
        counts = tagger.tag_one(record)
        records += 1
        showing.update(habit for habit in BEHAVIORS if counts.shows(habit))
        right += bool(record["correct"])
    if name is None:
        raise ValueError(f"{path}: no records")
    shown = variant(name).for_domain(tagger.domain)
    shares = {habit: showing[habit] / records for habit in BEHAVIORS}
    correct = right / records
    broken = [f"{h} in {shares[h]:.0%} (< {SHOWN:.0%})" for h in BEHAVIORS if h in shown.shows and shares[h] < SHOWN]
    broken += [f"{h} in {shares[h]:.0%} (> {EXCLUDED:.0%})" for h in shown.excludes() if shares[h] > EXCLUDED]
    if correct != (0.0 if shown.wrong else 1.0):
        broken.append(f"{correct:.0%} correct answers")
    return VariantRow(name, records, shares, correct, broken)


def habit_table(run_dir: str | Path, paths: list[Path]) -> list[VariantRow]:
    tagger = StructuralTagger(run_dir)
    return [variant_row(tagger, path) for path in paths]


def format_table(rows: list[VariantRow]) -> str:
    """A Markdown table: records, % showing each habit, % correct, and the rule's verdict."""
    header = ["variant", "records", *BEHAVIORS, "correct", "rule"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.variant, str(row.records), *(f"{row.shares[h]:.0%}" for h in BEHAVIORS), f"{row.correct:.0%}"]
        cells.append("; ".join(row.broken) or "ok")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
