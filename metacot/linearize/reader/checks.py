"""The reader's checks: each reads a record's events in order and names what a reader finds wrong, as one kind of
violation (KINDS). States are the numbers the text has reached, however reached (a reader cannot tell two nodes with
the same numbers apart)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator

from metacot.linearize.formats.metacot import REASONLESS
from metacot.linearize.reader.events import (
    AHEAD,
    EXHAUSTED,
    INCOHERENT,
    LOW,
    LOW_OR_LOWER,
    LOWER,
    TIE,
    UNREADABLE,
    Answered,
    Back,
    Concluded,
    Event,
    Named,
    Reached,
    Tried,
    Unread,
    Violation,
)
from metacot.linearize.reasons import LOW as LOW_BELOW

Check = Callable[[list[Event]], Iterator[Violation]]


def unread(events: list[Event]) -> Iterator[Violation]:
    """Lines the reader cannot follow (UNREADABLE, INCOHERENT: a step's result, a state or a check contradicted)."""
    for e in events:
        if isinstance(e, Unread):
            yield Violation(e.kind, e.line, e.why)


def unsupported(events: list[Event]) -> Iterator[Violation]:
    """A state called exhausted before the text has shown the steps tried from it: at least one, each failed (or
    called wrong) or leading to a state shown exhausted in turn."""
    tries: dict[Hashable, list[Tried]] = {}
    closed: set[Hashable] = set()
    named: set[str] = set()

    def failed(t: Tried, seen: frozenset) -> bool:
        if t.wins:
            return False
        return t.result is None or t.wrong in named or (t.result not in seen and shown(t.result, seen))

    def shown(key: Hashable, seen: frozenset) -> bool:
        steps = tries.get(key, [])
        return key in closed or (bool(steps) and all(failed(t, seen | {key}) for t in steps))

    for e in events:
        named.update(slips_named(e))
        if isinstance(e, Tried):
            tries.setdefault(e.origin, []).append(e)
        elif isinstance(e, Concluded) and e.how == EXHAUSTED:
            if not shown(e.key, frozenset()):
                yield Violation(UNSUPPORTED, e.line, "no step shown from there, or one not shown to fail")
            closed.add(e.key)


def slips_named(e: Event) -> list[str]:
    """The slip an event names: a check's, or a step's called wrong where it is printed."""
    if isinstance(e, Named):
        return [e.wrong]
    return [e.wrong] if isinstance(e, Tried) and e.named and e.wrong is not None else []


def stepped_after_exhausted(events: list[Event]) -> Iterator[Violation]:
    """A step from a state the text has called exhausted, with no stated return."""
    exhausted: dict[Hashable, str] = {}
    for e in events:
        if isinstance(e, Concluded) and e.how == EXHAUSTED:
            exhausted[e.key] = e.line
        elif isinstance(e, Tried) and e.origin in exhausted:
            yield Violation(
                EXHAUSTED_STEPPED, e.line, f"steps from a state called exhausted: {exhausted.pop(e.origin)!r}"
            )


def wins_left(events: list[Event]) -> Iterator[Violation]:
    """After a step shown to reach the goal (or one called wrong whose right result does), the text answers, or
    takes that right step: anything else walks away from the win."""
    win: Tried | None = None
    for e in events:
        if isinstance(e, Answered):
            win = None
            continue
        if isinstance(e, (Concluded, Named)):  # statements, not moves
            continue
        if win is not None:
            if isinstance(e, Tried) and e.wins and e.origin == win.origin:  # the win, or the right step taken
                win = e
                continue
            yield Violation(WIN_LEFT, win.line, f"goes on after {win.step!r}, which reaches the goal or would")
            win = None
        if isinstance(e, Tried) and (e.wins or (e.hides_win and e.named)):
            win = e


def wins_unshown(events: list[Event]) -> Iterator[Violation]:
    """The text leaves a state one move from the goal without showing that move."""
    at: Reached | None = None
    for e in events:
        if isinstance(e, Reached):
            at = e if e.win is not None else None
        elif isinstance(e, Tried) and at is not None and e.origin == at.key and (e.wins or e.hides_win):
            at = None
        elif isinstance(e, Back) and at is not None:
            yield Violation(WIN_UNSHOWN, e.line, f"leaves {at.line!r}, from which {at.win!r} reaches the goal")
            at = None


def repeated(events: list[Event]) -> Iterator[Violation]:
    """A step reaches numbers the text has already reached."""
    seen: set[Hashable] = set()
    for e in events:
        if isinstance(e, Reached):
            if e.key in seen:
                yield Violation(REPEATED, e.line, "these numbers were reached before")
            seen.add(e.key)


def rediscovered(events: list[Event]) -> Iterator[Violation]:
    """A slip named again (the same wrong step, the same words)."""
    named: set[str] = set()
    for e in events:
        for wrong in slips_named(e):
            if wrong in named:
                yield Violation(REDISCOVERED, e.line, f"named before: {wrong}")
            named.add(wrong)


def repair_first(events: list[Event]) -> Iterator[Violation]:
    """A step with a wrong result written after the text has shown its right version from the same state: the
    repair before its slip."""
    right: set[tuple[Hashable, str]] = set()
    for e in events:
        if not isinstance(e, Tried):
            continue
        if e.corrects is not None and e.corrects in right:
            yield Violation(REPAIR_FIRST, e.line, f"a slip whose right version, {e.corrects[1]!r}, was shown before")
        if e.wrong is None:
            right.add((e.origin, e.step))


def built_on_wrong(events: list[Event]) -> Iterator[Violation]:
    """A step from a state below a step the text has called wrong."""
    named: set[str] = set()
    for e in events:
        if isinstance(e, Tried):
            wrong = [s for s in e.path_slips if s in named]
            if wrong:
                yield Violation(BUILT_ON_WRONG, e.line, f"goes on below a step called wrong: {wrong[0]}")
        named.update(slips_named(e))


def reasonless(events: list[Event]) -> Iterator[Violation]:
    """A backtrack with no reason (in a format that gives reasons), but after a step whose check said it failed."""
    for e in events:
        if isinstance(e, Back) and e.reasons and (e.reason == REASONLESS or (e.reason is None and not e.after_failure)):
            yield Violation(REASONLESS_BACK, e.line, "a backtrack with no reason")


def rounding(events: list[Event]) -> Iterator[Violation]:
    """A comparison of printed values that is false as printed."""
    for e in events:
        if not isinstance(e, Concluded) or e.v is None:
            continue
        v, w = float(e.v), float(e.w) if e.w is not None else None
        said = {
            LOW: v < LOW_BELOW,
            LOWER: w is not None and v < w,
            TIE: v == w,
            AHEAD: w is not None and v > w,
            LOW_OR_LOWER: v < LOW_BELOW or (w is not None and v < w),
        }.get(e.how, True)
        if not said:
            yield Violation(ROUNDING, e.line, f"{e.how}: {e.v} against {e.w or f'the low mark {LOW_BELOW}'}")


def arithmetic(events: list[Event]) -> Iterator[Violation]:
    """A printed step whose result is wrong, which the text never calls wrong."""
    named = {wrong for e in events for wrong in slips_named(e)}
    for e in events:
        if isinstance(e, Tried) and e.wrong is not None and e.wrong not in named:
            yield Violation(ARITHMETIC, e.line, f"{e.wrong}, and the text never says so")


UNSUPPORTED, EXHAUSTED_STEPPED, WIN_LEFT, WIN_UNSHOWN = "unsupported", "exhausted_stepped", "win_left", "win_unshown"
REPEATED, REDISCOVERED, BUILT_ON_WRONG = "repeated_state", "rediscovered_slip", "built_on_wrong"
REPAIR_FIRST = "repair_before_slip"
REASONLESS_BACK, ROUNDING, ARITHMETIC = "reasonless_backtrack", "rounding", "arithmetic"
# every kind of violation, in the order reports list them
KINDS = (
    UNSUPPORTED, EXHAUSTED_STEPPED, WIN_LEFT, WIN_UNSHOWN, REPEATED, REDISCOVERED, REPAIR_FIRST, BUILT_ON_WRONG,
    REASONLESS_BACK, ROUNDING, ARITHMETIC, UNREADABLE, INCOHERENT,
)  # fmt: skip
CHECKS: tuple[Check, ...] = (
    unread, unsupported, stepped_after_exhausted, wins_left, wins_unshown, repeated, rediscovered, repair_first,
    built_on_wrong, reasonless, rounding, arithmetic,
)  # fmt: skip


def violations(events: list[Event]) -> list[Violation]:
    return [v for check in CHECKS for v in check(events)]
