"""The habit table of priming datasets: the share of records showing each habit (structural tagger), the habits'
substance read from the text (substance.py: subgoals pursued, backward chains completed or ruled out, one-step wins
left behind), and whether each variant keeps its rule (named habits in >= 90% of records, excluded ones in <= 2%,
>= 90% of subgoals pursued and of backward chains completed (or ruled out, in wrong answers), no one-step win left
behind, answers right or wrong)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from metacot.behaviors.definitions import BEHAVIORS
from metacot.behaviors.measure.base import COLUMNS
from metacot.behaviors.measure.structural import StructuralTagger
from metacot.behaviors.prime.substance import Substance, read_substance
from metacot.behaviors.prime.variants import variant
from metacot.linearize.layout import texts
from metacot.outputs.records import read_records

SHOWN, EXCLUDED = 0.90, 0.02  # the rule: named habits in at least SHOWN of records, excluded ones in at most EXCLUDED
FOLLOWED = 0.90  # and at least this share of subgoals pursued, of chains completed (or ruled out: wrong answers)


@dataclass
class VariantRow:
    """One variant's records: how many, the share showing each habit, the share answering correctly."""

    variant: str
    records: int
    shares: dict[str, float]
    correct: float
    broken: list[str]  # what breaks the rule, in words; empty when it holds
    substance: Substance
    skipping: int  # records that leave a one-step win behind

    @property
    def pursued(self) -> float | None:
        return self.substance.pursued / self.substance.subgoals if self.substance.subgoals else None

    @property
    def chains_followed(self) -> float | None:
        """Backward chains completed, or (a wrong-answer variant) completed or ruled out in the text."""
        done = self.substance.chains_pursued if self.correct == 0 else self.substance.completed
        return done / self.substance.chains if self.substance.chains else None


def variant_row(tagger: StructuralTagger, path: Path) -> VariantRow:
    """Tag one priming file with the structural tagger, a record at a time, and check its variant's rule."""
    name, records, showing, right, skipping = None, 0, Counter[str](), 0, 0
    substance = Substance()
    for _, record in read_records(path):
        if name is None:
            name = record["variant"]
        counts = tagger.tag_one(record)
        records += 1
        showing.update(habit for habit in COLUMNS if counts.shows(habit))
        right += bool(record["correct"])
        if tagger.domain.numbers_to_target:
            found = record_substance(tagger, record)
            substance.add(found)
            skipping += found.win_skips > 0
    if name is None:
        raise ValueError(f"{path}: no records")
    shown = variant(name).for_domain(tagger.domain)
    shares = {habit: showing[habit] / records for habit in COLUMNS}
    correct = right / records
    broken = [f"{h} in {shares[h]:.0%} (< {SHOWN:.0%})" for h in BEHAVIORS if h in shown.shows and shares[h] < SHOWN]
    broken += [f"{h} in {shares[h]:.0%} (> {EXCLUDED:.0%})" for h in shown.excludes() if shares[h] > EXCLUDED]
    if correct != (0.0 if shown.wrong else 1.0):
        broken.append(f"{correct:.0%} correct answers")
    row = VariantRow(name, records, shares, correct, broken, substance, skipping)
    if row.pursued is not None and row.pursued < FOLLOWED:
        broken.append(f"subgoals pursued {row.pursued:.0%} (< {FOLLOWED:.0%})")
    if row.chains_followed is not None and row.chains_followed < FOLLOWED:
        broken.append(f"backward chains followed {row.chains_followed:.0%} (< {FOLLOWED:.0%})")
    if skipping:
        broken.append(f"{skipping} records leave a one-step win behind")
    return row


def record_substance(tagger: StructuralTagger, record: dict) -> Substance:
    """The substance of a record's think block, read with its problem's numbers and target."""
    tree = tagger.trees.get(record["problem_id"])
    if tree is None:
        return Substance()
    completion = texts(record)[1]
    think = completion.partition("<think>")[2].partition("</think>")[0]
    return read_substance(think, list(tree.problem["numbers"]), int(tree.problem["target"]))


def habit_table(run_dir: str | Path, paths: list[Path]) -> list[VariantRow]:
    tagger = StructuralTagger(run_dir)
    return [variant_row(tagger, path) for path in paths]


def format_table(rows: list[VariantRow]) -> str:
    """A Markdown table: records, % showing each habit (and strict backtracking), % correct, subgoals pursued,
    backward chains completed (or ruled out: wrong answers), records leaving a one-step win behind, and the rule's
    verdict."""
    header = ["variant", "records", *COLUMNS, "correct", "subgoals pursued", "chains followed", "win skips", "rule"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.variant, str(row.records), *(f"{row.shares[h]:.0%}" for h in COLUMNS), f"{row.correct:.0%}"]
        cells += [_share(row.pursued, row.substance.subgoals), _share(row.chains_followed, row.substance.chains)]
        cells += [str(row.skipping), "; ".join(row.broken) or "ok"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _share(share: float | None, of: int) -> str:
    return "-" if share is None else f"{share:.0%} of {of}"
