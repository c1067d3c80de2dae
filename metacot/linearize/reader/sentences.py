"""The reader of the formats written in sentences (metacot, its path alone as cot, and paper): each line read with
the writers' own templates (linearize.reasons, linearize.attempts, render.step_words)."""

from __future__ import annotations

import re
from collections.abc import Hashable
from functools import cache

from metacot.linearize.attempts import FAILED, REPAIRED, SEPARATOR, attempt_words, repaired_words
from metacot.linearize.formats import metacot as worded
from metacot.linearize.formats.metacot import ATTEMPTS_LINE, VALUE, go_back_patterns, reason_words, sentence_pattern
from metacot.linearize.formats.paper import ALTERNATIVELY, FINAL_ANSWER, SOLUTION
from metacot.linearize.plancheck import Pursuit, made_by, read_plan
from metacot.linearize.reader.events import (
    AHEAD,
    EXHAUSTED,
    INCOHERENT,
    LOW,
    LOWER,
    TIE,
    UNREADABLE,
    Back,
    Concluded,
    Named,
    Tried,
)
from metacot.linearize.reader.reading import Attempt, Position, Reading, canonical
from metacot.linearize.reasons import LOW_VALUE, MISTAKE

FAILED_ITEM = re.compile(sentence_pattern(FAILED).replace("(?P<why>.+?)", "(?P<why>.+)"))
REPAIRED_ITEM = re.compile(sentence_pattern(REPAIRED))
GO_BACKS = [re.compile(rf"(?:^|(?<= )){p.pattern}$") for p in go_back_patterns()]
VALUED = {worded.LOWER: LOWER, worded.TIE: TIE, worded.AHEAD: AHEAD}  # a comparison's wording -> how it compares


@cache
def reasons(goal: str) -> list[tuple[str, str, re.Pattern[str]]]:
    """(kind, wording, regex) of each reason a backtrack may give, for a problem's goal ("reach 33")."""
    return [(kind, how, re.compile(sentence_pattern(words, goal=goal))) for kind, how, words in reason_words()]


def read_metacot(reading: Reading, lines: list[str]) -> None:
    """Each line: a value line, a plan (linearize.plans: true of the numbers where the text stands, and kept by the
    steps after it), an attempts line, a backtrack (its reason, then where it goes back to), or a step from where
    the text stands."""
    follow = Pursuit(reading.problem.target) if reading.domain.numbers_to_target else None
    for line in lines:
        if line.startswith(VALUE) or (follow is not None and read_plan_line(reading, follow, line)):
            continue
        if read_attempts(reading, line):
            continue
        if read_backtrack(reading, line):
            kept(reading, follow, line)
        elif read_step(reading, reading.current, line):
            if follow is not None:
                follow.step(made_by(line))
        else:
            reading.unread(line, UNREADABLE, "no sentence of the format reads so")
    if lines:
        kept(reading, follow, lines[-1])


def read_plan_line(reading: Reading, follow: Pursuit, line: str) -> bool:
    """A subgoal, a backward chain or a subgoal's check, read with the numbers where the text stands; False when the
    line is none of these."""
    reachable = lambda state: reading.domain.reachable(reading.problem, state) is True  # noqa: E731
    plan = read_plan(line, reading.current.state, reading.problem.target, reachable)
    if plan is None:
        return False
    for wrong in (plan.wrong, follow.said(plan)):
        if wrong is not None:
            reading.unread(line, INCOHERENT, wrong)
    return True


def kept(reading: Reading, follow: Pursuit | None, line: str) -> None:
    """At the end of a run of steps: a plan the steps did not keep is a line the reader cannot follow."""
    unkept = follow.leave() if follow is not None else None
    if unkept is not None:
        reading.unread(line, INCOHERENT, unkept)


def read_step(reading: Reading, origin: Position, line: str) -> bool:
    """A step from `origin` and what it gives; False when the line is no step from there."""
    attempt = reading.attempt(origin, line.partition(". ")[0])
    expected = reading.sentence(attempt)
    if line != expected:
        if attempt.outcome.error is not None and attempt.right is None:  # not a step from there at all
            return False
        reading.unread(line, INCOHERENT, f"the step gives: {expected!r}")
    reading.take(attempt, line, listed=False, named=attempt.outcome.error is not None)
    reading.caught_attempt(attempt, line)
    return True


def read_attempts(reading: Reading, line: str, pattern: re.Pattern[str] = ATTEMPTS_LINE) -> bool:
    """An attempts line ("From [44, 101]: 44 * 101 = 4444 (4444 is not 33); ...", or a format's own `pattern` of a
    {state} and its {attempts}): each a failed step from a state the text has reached, with what its check says,
    or a step that goes on: the correction of the slip right before it (listed, or the step the text just wrote)."""
    m = pattern.fullmatch(line)
    if m is None:
        return False
    origin = reading.named(m["state"], line, "lists steps from")
    if origin is None:
        return True
    moved = (e for e in reversed(reading.events) if not isinstance(e, (Concluded, Named)))  # not statements
    last = next(moved, None)  # a slip the text just wrote: its correction may come first
    corrects = last.corrects if isinstance(last, Tried) and not last.listed else None
    for item in m["attempts"].split(SEPARATOR):
        words = FAILED_ITEM.fullmatch(item)
        if words is None:
            reading.unread(line, UNREADABLE, f"{item!r} is no tried step with its check")
            continue
        attempt = reading.attempt(origin, words["step"])
        expected = attempt_words(attempt.step, attempt.outcome.error, attempt.check or "")
        if not attempt.outcome.terminal and attempt.outcome.error is None:  # goes on: the slip before's correction
            expected = _repaired(reading, attempt, item)
            if corrects != (origin.key, attempt.step) and not _named_before(reading, (origin.key, attempt.step)):
                reading.unread(line, INCOHERENT, f"{attempt.step!r} did not fail, nor corrects the step before it")
        if item != expected:
            reading.unread(line, INCOHERENT, f"the step gives: {expected!r}")
        reading.take(attempt, line, listed=True, named=attempt.outcome.error is not None)
        taken = reading.events[-1]
        corrects = taken.corrects if isinstance(taken, Tried) else None
        reading.caught_attempt(attempt, line)
    return True


def _named_before(reading: Reading, correction: tuple[Hashable, str]) -> bool:
    """The step corrects a slip the text has named, and the text went back to its state since (render.correction_lines:
    after the mistake backtrack)."""
    back = next((e for e in reversed(reading.events) if not isinstance(e, (Concluded, Named))), None)
    return isinstance(back, Back) and back.to == correction[0] and correction in reading.corrections


def _repaired(reading: Reading, attempt: Attempt, item: str) -> str:
    """How a listed slip's correction is written (attempts.repaired_words), with the value the item prints."""
    value = REPAIRED_ITEM.fullmatch(item)
    state = reading.domain.describe_state(reading.problem, attempt.outcome.state)
    return repaired_words(attempt.step, value["v"] if value is not None else None, state)


def read_backtrack(reading: Reading, line: str) -> bool:
    """A go-back sentence, after its reason (or none); False when the line ends with no go-back."""
    back = next((m for m in (p.search(line) for p in GO_BACKS) if m is not None), None)
    if back is None:
        return False
    to = reading.named(back["back"], line, "goes back to")
    if to is None:
        return True
    said = line[: back.start()].rstrip()
    how = _reason(reading, line, said) if said else None
    reading.back(to, line, how, reasons=True)
    return True


def _reason(reading: Reading, line: str, said: str) -> str | None:
    """Read a backtrack's reason: its conclusion about a state, the slip it names; its wording (None: unknown)."""
    here = reading.current
    for kind, how, pattern in reasons(reading.domain.goal(reading.problem)):
        m = pattern.fullmatch(said)
        if m is None:
            continue
        named = m.groupdict()
        if "state" in named:
            about = reading.named(m["state"], line, "concludes about")
            if about is None:
                return how
            here = about
        if kind == MISTAKE:
            if named.get("why") is not None:
                reading.caught(line, here.path(), here.steps(), m["why"])
            if how != MISTAKE:
                _read_fix(reading, line, how, m)
        elif how == EXHAUSTED:
            reading.events.append(Concluded(line, here.key, EXHAUSTED))
        elif how in VALUED or kind == LOW_VALUE:
            reading.events.append(Concluded(line, here.key, VALUED.get(how, LOW), m["v"], named.get("w")))
        return MISTAKE if kind == MISTAKE else how  # a fix clause's comparison is not why it leaves
    reading.unread(line, UNREADABLE, f"no reason of the format reads {said!r}")
    return None


def _read_fix(reading: Reading, line: str, how: str, m: re.Match[str]) -> None:
    """The corrected step of the slip a mistake backtrack names (reasons.FIX_WORDS): the right version of the slip
    the text named last, tried from its state (listed: the text does not go there), leading where it says; a value
    comparison it makes, as a conclusion about where it leads."""
    slip = reading.last_named
    if slip is None or slip[1] != canonical(m["step"]) or slip[2] != canonical(m["fix"]):
        right = "none" if slip is None or slip[1] != canonical(m["step"]) else slip[2]
        reading.unread(line, INCOHERENT, f"{m['fix']!r} is no right version of a slip it named (that is {right!r})")
        return
    attempt = reading.attempt(slip[0], m["fix"])
    outcome = attempt.outcome
    leads = None if outcome.state is None else reading.domain.describe_state(reading.problem, outcome.state)
    if outcome.terminal or outcome.error is not None or m.groupdict().get("fixed", leads) != leads:
        reading.unread(line, INCOHERENT, f"{attempt.step!r} leads to {leads}")
    position = reading.take(attempt, line, listed=True, named=False)
    if how in VALUED and position is not None:
        reading.events.append(Concluded(line, position.key, VALUED[how], m["v"], m["w"]))


def read_paper(reading: Reading, lines: list[str]) -> None:
    """Each step, a value line after it; "Alternatively, " before a step from a state written earlier (the search
    went back there); then the final answer and the Solution block, which repeat the path."""
    steps = [line for line in lines if not line.startswith(VALUE)]
    for i, line in enumerate(steps):
        if line.startswith((FINAL_ANSWER, SOLUTION)):
            return
        if not line.startswith(ALTERNATIVELY):
            if not read_step(reading, reading.current, line):
                reading.unread(line, UNREADABLE, "no step from where the text stands")
            continue
        text = line[len(ALTERNATIVELY) :]
        origin = _switched_to(reading, text, steps[i + 1] if i + 1 < len(steps) else "")
        if origin is None:
            reading.unread(line, INCOHERENT, "no state written before gives this step")
            continue
        reading.back(origin, line, None, reasons=False)
        read_step(reading, origin, text)


def _switched_to(reading: Reading, text: str, after: str) -> Position | None:
    """The latest state written before that gives the step as `text` says; of a wrong step (the text stays where it
    was), the one from which the next line, its repair, reads as a step too, else one from which its right version
    was not written (any state holding its numbers gives the same sentence)."""
    step = text.partition(". ")[0]
    found = [p for p in reversed(reading.reached) if reading.sentence(reading.attempt(p, step)) == text]
    if len(found) > 1 and reading.attempt(found[0], step).outcome.error is not None:
        follow = after.partition(". ")[0]
        repaired = [p for p in found if reading.sentence(reading.attempt(p, follow)) == after]
        taken = {(e.origin, e.step) for e in reading.events if isinstance(e, Tried)}
        fresh = [p for p in found if (p.key, reading.attempt(p, step).right) not in taken]
        return (repaired or fresh or found)[0]
    return found[0] if found else None
