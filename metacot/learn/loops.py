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


class LoopStop:
    """One row's stop while it is generated (a pooled Row's `stop`): "end" at the end token, "loop" once a line it
    finishes catches it looping; it feeds the row's lines as line breaks come, decoding only the text since."""

    def __init__(self, tokenizer: Any, breaks: set[int], window: int) -> None:
        self.tokenizer, self.breaks, self.window = tokenizer, breaks, window
        self.lines = LineRepeats(window)
        self.rest = ""
        self.read = 0  # of the row's tokens, those already decoded

    def __call__(self, made: list[int]) -> str | None:
        if made[-1] == self.tokenizer.eos_token_id:
            return "end"
        if made[-1] in self.breaks:
            text, self.read = self.tokenizer.decode(made[self.read :]), len(made)
            *finished, self.rest = (self.rest + text).split("\n")
            if any(caught(self.lines.add(line), self.window) for line in finished):
                return "loop"
        return None


def line_breaks(tokenizer: Any) -> set[int]:
    """The tokens whose text holds a line break: only after one of them can a row be caught looping."""
    return {i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i])}
