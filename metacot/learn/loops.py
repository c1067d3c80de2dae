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


class LoopStop(StoppingCriteria):
    """Stops each row of a batched generation once its completion is caught looping (its finished lines checked as
    they end); `stopped[row]`: the tokens that row had generated then (None while it goes on). Lines are decoded only
    when a token holding a line break comes."""

    def __init__(self, tokenizer: Any, window: int, prompt_tokens: int, rows: int) -> None:
        self.tokenizer = tokenizer
        self.window = window
        self.start = prompt_tokens
        self.breaks = torch.tensor([i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i])])
        self.lines = [LineRepeats(window) for _ in range(rows)]
        self.read = [prompt_tokens] * rows  # the first token not yet decoded, per row
        self.rest = [""] * rows  # the unfinished line decoded so far, per row
        self.stopped: list[int | None] = [None] * rows

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        length = input_ids.shape[1]
        ended = torch.isin(input_ids[:, -1], self.breaks).tolist()
        for row, line_break in enumerate(ended):
            if line_break and self.stopped[row] is None:
                text = self.rest[row] + self.tokenizer.decode(input_ids[row, self.read[row] : length].tolist())
                *finished, self.rest[row] = text.split("\n")
                self.read[row] = length
                if any(caught(self.lines[row].add(line), self.window) for line in finished):
                    self.stopped[row] = length - self.start
        return torch.tensor([s is not None for s in self.stopped], device=input_ids.device)
