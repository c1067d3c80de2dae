"""Catching a completion that repeats itself: most of its last lines say again what it already said. One rule, run on
a whole text (to check it against training records) and, row by row, as a stopping criterion while generating."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import torch
from transformers import StoppingCriteria

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
        self.lines = LineRepeats(window)
        self.rest = ""


class LoopStop(StoppingCriteria):
    """Stops each row of a batched generation once its completion is caught looping (its finished lines checked as
    they end; `rows` carries each row's lines from a generation before, if any); `stopped[row]`: the tokens that
    row had generated then (None while it goes on). Lines are decoded only when a token holding a line break comes."""

    def __init__(self, tokenizer: Any, window: int, input_tokens: int, rows: list[RowLines]) -> None:
        self.tokenizer = tokenizer
        self.window = window
        self.start = input_tokens
        self.breaks = torch.tensor([i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i])])
        self.rows = rows
        self.read = [input_tokens] * len(rows)  # the first token not yet decoded, per row
        self.stopped: list[int | None] = [None] * len(rows)

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        length = input_ids.shape[1]
        ended = torch.isin(input_ids[:, -1], self.breaks).tolist()
        for index, line_break in enumerate(ended):
            if line_break and self.stopped[index] is None:
                row = self.rows[index]
                text = row.rest + self.tokenizer.decode(input_ids[index, self.read[index] : length].tolist())
                *finished, row.rest = text.split("\n")
                self.read[index] = length
                if any(caught(row.lines.add(line), self.window) for line in finished):
                    self.stopped[index] = length - self.start
        return torch.tensor([s is not None for s in self.stopped], device=input_ids.device)
