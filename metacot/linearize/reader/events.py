"""What a reader takes from a trace's text, in order: states reached, steps tried, conclusions, backtracks, slips
named, the answer; and the violations its checks find."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

# how a conclusion about a state is worded: every step from it failed, or a value judgement (low; lower than, as
# much as, or more than the next option's; tokens: low or below the next step's printed value)
EXHAUSTED, LOW, LOWER, TIE, AHEAD, LOW_OR_LOWER = "exhausted", "low", "lower", "tie", "ahead", "low_or_lower"


@dataclass(frozen=True)
class Event:
    line: str  # the sentence (or line) it was read from


@dataclass(frozen=True)
class Reached(Event):
    """A step reached a state that goes on (not a return to it)."""

    key: Hashable  # the state's numbers, in any order (Domain.state_key): the same state however reached
    win: str | None  # a step from it that reaches the goal, which the reader finds itself (one move from a win)


@dataclass(frozen=True)
class Tried(Event):
    """A step tried from a state, printed with its result: a step the text takes, or one listed as an attempt."""

    origin: Hashable  # the state it is tried from
    step: str
    result: Hashable | None  # the state it leads to; None: it ends there (a finished path, or an error)
    wins: bool  # it reaches the goal as written
    hides_win: bool  # its result is wrong, and the right result reaches the goal
    wrong: str | None  # its result is wrong: what is true, in the domain's words ("12 + 5 is 17, not 18")
    named: bool  # the text calls it wrong where it prints it
    listed: bool = False  # an attempt (a listing), not a step the text takes
    path_slips: tuple[str, ...] = ()  # wrong steps taken at face value on the way to its state (their `wrong`)
    repairs: bool = False  # the right version of a step the text has called wrong, from the same state
    corrects: tuple[Hashable, str] | None = None  # its result is wrong: (its state, the step with its right result)


@dataclass(frozen=True)
class Concluded(Event):
    """A conclusion about a state: `how` (EXHAUSTED, LOW, ...), with the printed values it compares."""

    key: Hashable
    how: str
    v: str | None = None
    w: str | None = None


@dataclass(frozen=True)
class Named(Event):
    """A check names a slip of a step taken earlier ("Checking the steps: 12 + 5 is 17, not 18.")."""

    wrong: str


@dataclass(frozen=True)
class Back(Event):
    """The text leaves where it stands for a state it reached before."""

    to: Hashable
    reason: str | None  # the reason's wording (formats.metacot: exhausted, lower, order, reasonless, ...); None: none
    after_failure: bool  # it follows a step whose own check said it failed
    reasons: bool  # the format gives reasons for backtracks (sos and paper have none by their grammar)


@dataclass(frozen=True)
class Answered(Event):
    solved: bool


@dataclass(frozen=True)
class Unread(Event):
    """A line the reader cannot follow: `kind` UNREADABLE (no template fits) or INCOHERENT (it contradicts what the
    text says before it)."""

    kind: str
    why: str


@dataclass(frozen=True)
class Violation:
    kind: str
    line: str
    message: str


UNREADABLE, INCOHERENT = "unreadable", "incoherent"  # the kinds of an Unread line, violations as they are
