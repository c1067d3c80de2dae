"""The reader of the tokens format: <step> lines from where the text stands, the <verify> a finished or wrong step
gets, <value> lines, <tried> lines (failed steps from a state, read as the metacot format's attempts lines), and
<backtrack to=PATH reason=KIND> [state]."""

from __future__ import annotations

import re

from metacot.linearize.attempts import SEPARATOR
from metacot.linearize.formats.metacot import sentence_pattern
from metacot.linearize.formats.tokens import TOKEN, TRIED_LINE
from metacot.linearize.reader.events import EXHAUSTED, INCOHERENT, LOW_OR_LOWER, UNREADABLE, Concluded, Tried
from metacot.linearize.reader.reading import Reading
from metacot.linearize.reader.sentences import read_attempts
from metacot.linearize.reasons import CAUGHT_BELOW, LOW_VALUE

VERIFY = "<verify> "
CAUGHT_BELOW_LINE = re.compile(sentence_pattern(CAUGHT_BELOW))


def read_tokens(reading: Reading, lines: list[str]) -> None:
    low: tuple[str, str | None] | None = None  # a low-value backtrack (its line, the value here) awaiting the next
    value: str | None = None  # the last value printed
    stepped = False  # a step since that backtrack: the next value line is its value
    listed: list[str] = []  # the states of the <tried> lines right before this line
    for i, line in enumerate(lines):
        m = TOKEN.fullmatch(line)
        tried = TRIED_LINE.fullmatch(line)
        if m is None:
            reading.unread(line, UNREADABLE, "no line of the tokens format")
        elif m["path"] is not None:
            if low is not None:  # no value for the next step: the comparison stands alone
                reading.events.append(Concluded(low[0], reading.current.key, LOW_OR_LOWER, low[1]))
            low = _backtrack(reading, line, m, value, listed)
            stepped = False
        elif m["tag"] == "step":
            _step(reading, line, m["text"], lines[i + 1] if i + 1 < len(lines) else "")
            stepped = True
        elif m["tag"] == "verify":
            _verify(reading, line, m["text"], lines[i - 1] if i else "")
        elif tried is not None:
            read_attempts(reading, line, TRIED_LINE)
        elif m["tag"] == "tried":
            reading.unread(line, UNREADABLE, "no state and tried steps")
        else:
            value = m["text"]
            if low is not None and stepped and not _corrected_next(reading, lines[i + 1 : i + 2]):
                reading.events.append(Concluded(low[0], reading.current.key, LOW_OR_LOWER, low[1], value))
                low = None
        if tried is None or not _corrects_only(reading, tried["attempts"]):
            listed = [*listed, tried["state"]] if tried is not None else []


def _corrects_only(reading: Reading, attempts: str) -> bool:
    """A <tried> line that lists only a slip's correction, a step that goes on (render.attempt_lines: after the slip
    the text stands at): no conclusion about its state rests on it."""
    last = reading.events[-1] if reading.events else None
    return SEPARATOR not in attempts and isinstance(last, Tried) and last.listed and last.result is not None


def _backtrack(
    reading: Reading, line: str, m: re.Match[str], value: str | None, listed: list[str]
) -> tuple[str, str | None] | None:
    """A backtrack. One for exhaustion concludes about each state the <tried> lines right before it list, and about
    where the text stands unless the step just taken said it failed (the line names where it goes, not what it
    concludes about)."""
    to = reading.named(m["state"], line, "goes back to")
    if to is None:
        return None
    if m["kind"] == EXHAUSTED:
        about = [p.key for p in map(reading.at, listed) if p is not None]
        about += [] if reading.failed else [reading.current.key]
        reading.events += [Concluded(line, key, EXHAUSTED) for key in dict.fromkeys(about)]
    reading.back(to, line, m["kind"], reasons=True)
    return (line, value) if m["kind"] == LOW_VALUE else None


def _corrected_next(reading: Reading, following: list[str]) -> bool:
    """The last step was called wrong and the next line takes its correction: the two are one attempt, and a
    comparison with the next step's value is with the correction's."""
    last = next((e for e in reversed(reading.events) if isinstance(e, Tried)), None)
    return last is not None and last.corrects is not None and following == [f"<step> {last.corrects[1]}"]


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
