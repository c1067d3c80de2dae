"""The reader's audit (`metacot audit --reader`): a record's completion read as a reader does, from its text and
the problem it answers alone (no tree), into events by each format's own templates; then the checks of
reader.checks on those events, and a summary of how the format reads (reader.quality). The text is that of a domain
of numbers combined toward a target (Countdown): the reader does the arithmetic itself."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from metacot.linearize.auditor import NOT_FOUND, PLAIN, TAGGED
from metacot.linearize.layout import texts
from metacot.linearize.reader.checks import KINDS, violations
from metacot.linearize.reader.events import UNREADABLE, Answered, Violation
from metacot.linearize.reader.quality import Quality
from metacot.linearize.reader.reading import Reading
from metacot.linearize.reader.sentences import read_metacot, read_paper
from metacot.linearize.reader.sos import read_sos
from metacot.linearize.reader.tokens import read_tokens
from metacot.problems.base import Domain

Reader = Callable[[Reading, list[str]], None]
# each trace format's reader, by the format's name (a format without one is summed up, not checked)
READERS: dict[str, Reader] = {
    "metacot": read_metacot,
    "cot": read_metacot,
    "paper": read_paper,
    "tokens": read_tokens,
    "sos": read_sos,
}


def reads(domain: Domain) -> bool:
    """The reader reads the domain's text: numbers combined toward a target, whose arithmetic it checks."""
    return domain.numbers_to_target


def body(completion: str, delimiter: str) -> tuple[list[str], str] | None:
    """The completion's lines (as every format joins them) and its answer; None: no answer block."""
    m = TAGGED.fullmatch(completion) or PLAIN.fullmatch(completion)
    if m is None:
        return None
    return (m["body"].split(delimiter) if m["body"] else []), m["answer"]


def read_record(record: dict, domain: Domain, problem: Any, by_numbers: bool = True) -> list[Violation]:
    """What a reader finds wrong in one record's completion (its format's reader, then every check); by_numbers:
    states are their numbers (Reading), as in a search that merged transpositions."""
    completion = texts(record)[1]
    read = body(completion, domain.step_delimiter)
    if read is None:
        return [Violation(UNREADABLE, completion[-80:], "the completion has no answer block")]
    lines, answer = read
    reading = Reading(domain, problem, by_numbers)
    READERS[record["format"]](reading, lines)
    reading.events.append(Answered(answer, not answer.startswith(NOT_FOUND)))
    return violations(reading.events)


@dataclass
class ReaderReport:
    """One format's records as the reader found them."""

    records: int = 0
    checked: bool = False  # the format has a reader
    counts: Counter[str] = field(default_factory=Counter)  # violations by kind
    failures: list[tuple[str, Violation]] = field(default_factory=list)  # (problem id, violation)
    quality: Quality = field(default_factory=Quality)

    @property
    def violations(self) -> int:
        return sum(self.counts.values())

    def lines(self, fmt: str, show: int) -> list[str]:
        """The report: a line of violations per kind (or why none were looked for), the quality summary, and the
        first `show` violations."""
        if not self.checked:
            head = f"  reader: {self.records} records, not checked: the {fmt} format has no reader"
        else:
            kinds = ", ".join(f"{kind} {self.counts[kind]}" for kind in KINDS if self.counts[kind]) or "none"
            head = f"  reader: {self.records} records, {self.violations} violations: {kinds}"
        shown = [f"    {pid}: {v.kind}: {v.message}\n      {v.line!r}" for pid, v in self.failures[:show]]
        return [head, f"  reader: {self.quality.summary()}", *shown]


def read_records(records: Iterable[tuple[dict, Any, bool]], domain: Domain, fmt: str) -> ReaderReport:
    """Every (record, problem, by_numbers) of one format read (by_numbers: read_record); the violations by kind and
    how the format reads."""
    report = ReaderReport(checked=fmt in READERS)
    for record, problem, by_numbers in records:
        report.records += 1
        completion = texts(record)[1]
        read = body(completion, domain.step_delimiter)
        report.quality.add(read[0] if read else [], completion)
        if report.checked:
            found = read_record(record, domain, problem, by_numbers)
            report.counts.update(v.kind for v in found)
            report.failures += [(record["problem_id"], v) for v in found]
    return report


__all__ = ["READERS", "ReaderReport", "read_record", "read_records", "reads"]
