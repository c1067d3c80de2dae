"""Check every claim a record's completion makes against its saved tree and the domain: `metacot audit`.

The checker reads the completion text: it splits it into the domain's steps and hands them to the record's
format's parser (TraceFormat.parse, in the format's module), which finds each step among the tree's children of the
state it stands on, recomputes what the step gives with the domain (not the stored state), and parses backtracks
(with the sentence templates of linearize.reasons); a format without a parser has its answer checked alone. What it
checks: each step's arithmetic and "Now I have", each verdict, each backtrack's target (visited earlier, named by
its true state), each reason (exhausted: the branch really is dead; low value: the stated values are the search's
and ordered as said; nothing said to be exhausted is resumed later), each value line, and the answer
(domain.check_answer).
The domain is the run's own (RunDir.domain()), with its rule for wrong results: under notice = "when-found" a wrong
step's "Now I have" is the state with the claimed result, as the tree recorded it, and every finished path is
checked by the domain's verification of the whole path (Domain.first_mistake): the verdict must name its first
wrong step, and a mistake reason must name that step too; a path with a wrong step is never verified or solved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from metacot.linearize.auditor import Auditor, Failure, RecordAudit
from metacot.linearize.formats import FORMATS
from metacot.problems.base import Domain
from metacot.problems.verdicts import keeping
from metacot.tree import SearchTree


def audit_record(record: dict, tree: SearchTree, domain: Domain) -> RecordAudit:
    """Every claim of one record, checked against its tree (its answers' verdicts as the tree keeps them)."""
    with keeping(tree.verdicts):
        parsers = {name: fmt.parse for name, fmt in FORMATS.items()}  # now: formats registered later count
        return Auditor(record, tree, domain).run(parsers)


@dataclass
class FormatAudit:
    records: int = 0
    claims: int = 0
    failures: list[Failure] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)


def audit_records(pairs: Iterator[tuple[dict, SearchTree]], domain: Domain) -> FormatAudit:
    result = FormatAudit()
    for record, tree in pairs:
        checked = audit_record(record, tree, domain)
        result.records += 1
        result.claims += checked.claims
        result.failures += checked.failures
        result.reasons += checked.reasons
    return result
