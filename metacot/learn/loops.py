"""Catching a completion that repeats itself: most of its last lines say again what it already said. One rule, run on
a whole text (to check it against training records) and on each completion's lines while it is generated."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

STALE_SHARE = 0.75  # of the window's lines, the share that repeats an earlier line of the completion: caught


class LineRepeats:
    """One completion's finished lines, fed in order: how many of the last `window` repeat an earlier line of it."""

    def __init__(self, window: int) -> None:
        self.seen: set[str] = set()
        self.stale: deque[bool] = deque(maxlen=window)

    def add(self, line: str) -> int:
        self.stale.append(line in self.seen)
        self.seen.add(line)
        return sum(self.stale)


def caught(stale: int, window: int) -> bool:
    """`stale` of the last `window` lines repeat earlier ones: the completion is looping."""
    return stale >= math.ceil(STALE_SHARE * window)


def most_stale(text: str, window: int) -> int:
    """The most repeated lines in any `window` consecutive finished lines of `text` (a line is finished by a line
    break; the last piece of an unfinished text is not counted, as while generating)."""
    lines = LineRepeats(window)
    return max((lines.add(line) for line in text.split("\n")[:-1]), default=0)


class RowLines:
    """One row's completion while it is generated: its finished lines and the unfinished one decoded so far."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.lines = LineRepeats(window)
        self.rest = ""

    def feed(self, text: str) -> bool:
        """Adds the row's text decoded since the last feed; whether a line it finishes catches the row looping."""
        *finished, self.rest = (self.rest + text).split("\n")
        return any(caught(self.lines.add(line), self.window) for line in finished)


def line_breaks(tokenizer: Any) -> set[int]:
    """The tokens whose text holds a line break: only after one of them can a row be caught looping."""
    return {i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i])}
