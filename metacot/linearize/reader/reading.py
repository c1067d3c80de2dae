"""Where a reader of a trace stands: the states the text has reached, worked out from the problem and the steps as
written with the domain's arithmetic (never from a tree), and the events it has read so far."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import Any

from metacot.linearize.reader.events import INCOHERENT, Back, Event, Named, Reached, Tried, Unread
from metacot.linearize.reasons import CAUGHT, reached_by
from metacot.linearize.reasons import step_text as canonical
from metacot.linearize.render import step_words
from metacot.problems.base import Domain, StepOutcome


@dataclass(frozen=True, eq=False)
class Position:
    """A state the text stands at: reached from `parent` by `step` (the root has neither)."""

    state: Any
    key: Hashable
    text: str  # the state as the text names it (Domain.describe_state)
    parent: Position | None = None
    step: str | None = None
    slips: tuple[str, ...] = ()  # wrong steps taken at face value on the way here: what is true of each

    def path(self) -> list[Position]:
        """The positions from the root to here."""
        here: Position | None = self
        found = []
        while here is not None:
            found.append(here)
            here = here.parent
        return found[::-1]

    def steps(self) -> list[str]:
        """The steps from the root to here."""
        return [p.step for p in self.path() if p.step is not None]


@dataclass(frozen=True)
class Attempt:
    """A step from a position, as the reader works it out: what it gives, its check and what is wrong with it."""

    origin: Position
    step: str
    outcome: StepOutcome
    mistake: tuple[int, str] | None  # a finished path's verification: its first wrong step (index) and what is true
    check: str | None  # what the text says of the path it finishes: the mistake (CAUGHT) or the domain's verdict
    right: str | None  # the step with its right result, when its result is wrong
    hides_win: bool  # that right step reaches the goal

    @property
    def wins(self) -> bool:
        return self.outcome.terminal and self.outcome.correct is True and self.mistake is None

    @property
    def wrong(self) -> str | None:
        """What is true of a step whose result is wrong (the domain's words); None for a right or illegal step."""
        return (self.outcome.error or self.outcome.slip) if self.right is not None else None

    def steps(self) -> list[str]:
        """The steps from the root through this one."""
        return [*self.origin.steps(), self.step]


@dataclass
class Reading:
    """One record being read: the problem it answers, where the text stands, the events so far.

    by_numbers: a state is its numbers however reached, as the searches that take each position up once know it
    (SearchTree.transpositions_merged); False: the steps that reached it, as best-of-N's independent chains (each
    sampled from the start: the same numbers in two chains are two samples, not ground covered twice)."""

    domain: Domain
    problem: Any
    by_numbers: bool = True
    events: list[Event] = field(default_factory=list)
    reached: list[Position] = field(default_factory=list)  # the positions the text has stood at, in order
    failed: bool = False  # the last step the text took failed as its own check said
    corrections: set[tuple[Hashable, str]] = field(default_factory=set)  # (state, right step) of steps called wrong
    last_named: tuple[Position, str, str | None] | None = None  # the latest slip a check named: state, step, right

    def __post_init__(self) -> None:
        self.current = self.position(self.domain.root_state(self.problem))
        self.reached.append(self.current)

    def position(self, state: Any, parent: Position | None = None, step: str | None = None, slip: str | None = None):
        """The position a step leads to: its numbers (by_numbers), but for numbers a wrong result gave, which are no
        state (a true step reaching them later reaches them for the first time), as the tree's audit takes them
        (linearize.states.position); else the steps that reached it."""
        slips = (parent.slips if parent is not None else ()) + ((slip,) if slip is not None else ())
        text = self.domain.describe_state(self.problem, state)
        if self.by_numbers and not slips:
            key = self.domain.state_key(state)
            return Position(state, key if key is not None else text, text, parent, step, slips)
        steps = (*parent.steps(), step) if parent is not None else ()
        return Position(state, steps, text, parent, step, slips)

    def unread(self, line: str, kind: str, why: str) -> None:
        self.events.append(Unread(line, kind, why))

    def at(self, text: str) -> Position | None:
        """The latest position the text stood at that `text` names: by its numbers, and the step that reached it
        when the name gives one (reasons.REACHED_BY)."""
        state, step = reached_by(text)
        return next((p for p in reversed(self.reached) if p.text == state and step in (None, p.step)), None)

    def named(self, text: str, line: str, doing: str) -> Position | None:
        """The state a line names (at); None, and the line is INCOHERENT, when the text has not reached it."""
        found = self.at(text)
        if found is None:
            self.unread(line, INCOHERENT, f"{doing} {text}, a state the text has not reached")
        return found

    def attempt(self, origin: Position, step: str) -> Attempt:
        domain, problem = self.domain, self.problem
        outcome = domain.apply_step(problem, origin.state, step)
        right = domain.correct_step(problem, origin.state, step)
        hides_win = False
        if right is not None and not origin.slips:
            fixed = domain.apply_step(problem, origin.state, right)
            hides_win = fixed.terminal and fixed.correct is True
        mistake, check = None, None
        if outcome.terminal and outcome.error is None:
            mistake = domain.first_mistake(problem, [*origin.steps(), step])
            verdict = domain.verdict(problem, outcome.state, outcome.correct)
            check = CAUGHT.format(why=mistake[1]) if mistake else verdict
        return Attempt(origin, canonical(step), outcome, mistake, check, right, hides_win)

    def sentence(self, attempt: Attempt) -> str:
        """The sentence the writers make of the step (render.step_words)."""
        outcome = attempt.outcome
        return step_words(self.domain, self.problem, attempt.step, outcome.state, outcome.error, attempt.check)

    def take(self, attempt: Attempt, line: str, listed: bool, named: bool) -> Position | None:
        """Record a step tried (listed: an attempt, the text does not go there); the position it leads to, if it
        goes on. A step the text takes moves it there, or, when it ends the path, leaves it where it stood."""
        origin, outcome = attempt.origin, attempt.outcome
        live = not outcome.terminal and outcome.error is None
        position = self.position(outcome.state, origin, attempt.step, outcome.slip) if live else None
        repairs = (origin.key, attempt.step) in self.corrections
        corrects = (origin.key, canonical(attempt.right)) if attempt.right is not None else None
        if named and corrects is not None:
            self.corrections.add(corrects)
        result = position.key if position is not None else None
        tried = Tried(line, origin.key, attempt.step, result, attempt.wins, attempt.hides_win, attempt.wrong, named)
        self.events.append(replace(tried, listed=listed, path_slips=origin.slips, repairs=repairs, corrects=corrects))
        if not listed:
            self.failed = position is None and not attempt.wins
            if position is not None:
                self.reach(position, line)
        return position

    def reach(self, position: Position, line: str) -> None:
        """The text goes on from a state a step led to."""
        self.events.append(Reached(line, position.key, self.win_from(position)))
        self.reached.append(position)
        self.current = position

    def win_from(self, position: Position) -> str | None:
        """A step the domain lists from the position that reaches the goal (none below a wrong step)."""
        if position.slips:
            return None
        for step in self.domain.legal_steps(self.problem, position.state) or []:
            outcome = self.domain.apply_step(self.problem, position.state, step)
            if outcome.terminal and outcome.correct is True:
                return step
        return None

    def back(self, to: Position, line: str, reason: str | None, reasons: bool) -> None:
        """The text leaves for a state it stood at before."""
        self.events.append(Back(line, to.key, reason, self.failed, reasons))
        self.current, self.failed = to, False

    def caught(self, line: str, path: list[Position], steps: list[str], stated: str) -> None:
        """A check of a path (positions from the root and the steps from each) names its first wrong step: `stated`
        is what the text says is true of it. Numbers reached by two paths are one state to a reader: the wrong step
        may be on another path to the same numbers (a slip taken on the way to a state the path passes through)."""
        mistake = self.domain.first_mistake(self.problem, steps)
        if mistake is not None and mistake[1] == stated:
            origin, step = path[mistake[0]], steps[mistake[0]]
        else:
            passed = {p.text for p in path}
            made = next((p for p in self.reached if p.slips[-1:] == (stated,) and p.text in passed), None)
            if made is None or made.parent is None or made.step is None:
                true = "no step is wrong" if mistake is None else mistake[1]
                self.unread(line, INCOHERENT, f"the check of the path finds: {true}")
                return
            origin, step = made.parent, made.step
        self.events.append(Named(line, stated))
        right = self.domain.correct_step(self.problem, origin.state, step)
        if right is not None:
            self.corrections.add((origin.key, canonical(right)))
        self.last_named = (origin, canonical(step), None if right is None else canonical(right))

    def caught_attempt(self, attempt: Attempt, line: str) -> None:
        """A finished path's check named a wrong step on it (CAUGHT)."""
        if attempt.mistake is not None:
            self.caught(line, attempt.origin.path(), attempt.steps(), attempt.mistake[1])
