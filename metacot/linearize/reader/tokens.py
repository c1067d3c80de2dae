"""The reader of the tokens format: <step> lines from where the text stands, the <verify> a finished or wrong step
gets, <value> lines, and <backtrack to=PATH reason=KIND> [state]."""

from __future__ import annotations

import re

from metacot.linearize.formats.metacot import sentence_pattern
from metacot.linearize.formats.tokens import TOKEN
from metacot.linearize.reader.events import EXHAUSTED, INCOHERENT, LOW_OR_LOWER, UNREADABLE, Concluded
from metacot.linearize.reader.reading import Reading
from metacot.linearize.reasons import CAUGHT_BELOW, LOW_VALUE

VERIFY = "<verify> "
CAUGHT_BELOW_LINE = re.compile(sentence_pattern(CAUGHT_BELOW))


def read_tokens(reading: Reading, lines: list[str]) -> None:
    low: tuple[str, str | None] | None = None  # a low-value backtrack (its line, the value here) awaiting the next
    value: str | None = None  # the last value printed
    stepped = False  # a step since that backtrack: the next value line is its value
    for i, line in enumerate(lines):
        m = TOKEN.fullmatch(line)
        if m is None:
            reading.unread(line, UNREADABLE, "no line of the tokens format")
        elif m["path"] is not None:
            if low is not None:  # no value for the next step: the comparison stands alone
                reading.events.append(Concluded(low[0], reading.current.key, LOW_OR_LOWER, low[1]))
            low = _backtrack(reading, line, m, value)
            stepped = False
        elif m["tag"] == "step":
            _step(reading, line, m["text"], lines[i + 1] if i + 1 < len(lines) else "")
            stepped = True
        elif m["tag"] == "verify":
            _verify(reading, line, m["text"], lines[i - 1] if i else "")
        else:
            value = m["text"]
            if low is not None and stepped:
                reading.events.append(Concluded(low[0], reading.current.key, LOW_OR_LOWER, low[1], value))
                low = None


def _backtrack(reading: Reading, line: str, m: re.Match[str], value: str | None) -> tuple[str, str | None] | None:
    to = reading.named(m["state"], line, "goes back to")
    if to is None:
        return None
    if m["kind"] == EXHAUSTED and not reading.failed:  # after a failed step, the claim is of that step alone
        reading.events.append(Concluded(line, reading.current.key, EXHAUSTED))
    reading.back(to, line, m["kind"], reasons=True)
    return (line, value) if m["kind"] == LOW_VALUE else None


def _step(reading: Reading, line: str, step: str, after: str) -> None:
    """A step from where the text stands; the line after it, its check when it has one."""
    attempt = reading.attempt(reading.current, step)
    check = attempt.outcome.error or attempt.check
    checked = check is not None and after == VERIFY + check
    if check is not None and not checked:
        reading.unread(line, INCOHERENT, f"the step's check is {check!r}")
    named = attempt.outcome.error is not None and checked
    reading.take(attempt, line, listed=False, named=named)
    reading.caught_attempt(attempt, line)


def _verify(reading: Reading, line: str, text: str, before: str) -> None:
    """A check: of the step before it (read with the step), or of the finished paths below a state, before a
    backtrack that names their mistake."""
    m = CAUGHT_BELOW_LINE.fullmatch(text)
    if m is not None:
        path = reading.current.path()
        reading.caught(line, path, reading.current.steps(), m["why"])
    elif not before.startswith("<step> "):
        reading.unread(line, INCOHERENT, "a check with no step before it")
