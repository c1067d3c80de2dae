"""The reader of the sos log: a Current State line and its listing (each operation with its resulting numbers, then
the node it generates or its goal check) at each state the log moves to; a move to a node generated where the log
stands goes on, a move to a state written before goes back (the log gives no reasons)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from metacot.linearize.formats.metacot import sentence_pattern
from metacot.linearize.formats.sos import (
    CHECKED,
    CURRENT,
    EXPLORED,
    GENERATED,
    GOAL,
    MOVED,
    NO_GOAL,
    numbers_text,
    operation_text,
)
from metacot.linearize.reader.events import INCOHERENT, UNREADABLE
from metacot.linearize.reader.reading import Attempt, Position, Reading

EXPLORED_LINE, MOVED_LINE = re.compile(sentence_pattern(EXPLORED)), re.compile(sentence_pattern(MOVED))


@dataclass
class Log:
    """What the reader knows of the log: the nodes generated (id -> the listed step that made it) and those the log
    has stood at (id -> position)."""

    reading: Reading
    generated: dict[str, tuple[str, Attempt]] = field(default_factory=dict)  # id -> (its parent's id, its step)
    stood: dict[str, Position] = field(default_factory=dict)
    here: str = "0"
    listed: int = 0  # nodes the listing of `here` has generated

    def current(self, position: Position) -> str:
        problem = self.reading.problem
        operations = [operation_text(p.step) for p in position.path()[1:] if p.step is not None]
        return CURRENT.format(target=problem.target, numbers=numbers_text(position.state), operations=operations)

    def explored(self, line: str, after: str) -> bool:
        """A listed operation and the line after it (its generated node or goal check); False: no such line."""
        m = EXPLORED_LINE.fullmatch(line)
        if m is None:
            return False
        reading = self.reading
        attempt = reading.attempt(reading.current, m["operation"])
        outcome = attempt.outcome
        if outcome.error is not None:
            reading.unread(line, INCOHERENT, f"a step the log cannot list: {outcome.error}")
            return True
        if m["numbers"] != numbers_text(outcome.state):
            reading.unread(line, INCOHERENT, f"the operation gives {numbers_text(outcome.state)}")
        target = reading.problem.target
        if outcome.terminal:
            expected = CHECKED.format(value=outcome.state[0], target=target, verdict=GOAL if attempt.wins else NO_GOAL)
        else:
            node = f"{self.here},{self.listed}"
            self.listed += 1
            numbers = numbers_text(outcome.state)
            expected = GENERATED.format(
                node=node, target=target, numbers=numbers, operation=operation_text(m["operation"])
            )
            self.generated[node] = (self.here, attempt)
        if after != expected:
            reading.unread(after, INCOHERENT, f"after the operation, the log writes {expected!r}")
        reading.take(attempt, line, listed=True, named=False)
        return True

    def moved(self, line: str, after: str) -> bool:
        """A move and the Current State line after it; False: no move."""
        m = MOVED_LINE.fullmatch(line)
        if m is None:
            return False
        node, reading = m["node"], self.reading
        if node in self.stood:
            reading.back(self.stood[node], line, None, reasons=False)
        elif node in self.generated and self.generated[node][0] == self.here:
            attempt = self.generated[node][1]
            position = reading.position(attempt.outcome.state, attempt.origin, attempt.step, attempt.outcome.slip)
            reading.reach(position, line)
            self.stood[node] = position
        else:
            reading.unread(line, INCOHERENT, "a move to a node not generated where the log stands, nor stood at")
            return True
        self.here, self.listed = node, 0
        expected = self.current(reading.current)
        if after != expected:
            reading.unread(after, INCOHERENT, f"the state there is {expected!r}")
        return True


def read_sos(reading: Reading, lines: list[str]) -> None:
    log = Log(reading)
    log.stood["0"] = reading.current
    if not lines or lines[0] != log.current(reading.current):
        reading.unread(lines[0] if lines else "", INCOHERENT, f"the log starts with {log.current(reading.current)!r}")
    skip = True  # the line after a listed operation or a move was read with it
    for i, line in enumerate(lines):
        if skip:
            skip = False
            continue
        after = lines[i + 1] if i + 1 < len(lines) else ""
        skip = log.explored(line, after) or log.moved(line, after)
        if not skip:
            reading.unread(line, UNREADABLE, "no line of the log")
