"""How a format's text reads, summed over its records: distinct sentence templates, the share of words that are
boilerplate (carry no number), and completion lengths (characters)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STATE = re.compile(r"\[[^\]]*\]")  # a list of numbers, or of operations (sos)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")  # a number, a value, a node id ("0,3,1") or a tree path ("0.15.3")
STEP = re.compile(r"N ?[-+*/] ?N ?= ?-?N")
EXPRESSION = re.compile(r"\(*N(?: ?[-+*/] ?\(*N\)*)+")  # an answer's arithmetic ("(N + N) * N")
SENTENCE_END = re.compile(r"(?<=[.!?;]) ")


def templates(line: str) -> list[str]:
    """The line's sentences with their numbers, states and steps masked: the words a template fixes."""
    masked = EXPRESSION.sub("EXPRESSION", STEP.sub("STEP", NUMBER.sub("N", STATE.sub("S", line))))
    return [s for s in SENTENCE_END.split(masked) if s]


def boilerplate(text: str) -> tuple[int, int]:
    """(words with no digit, words): what the templates say against what the numbers do."""
    words = text.split()
    return sum(1 for w in words if not any(c.isdigit() for c in w) and w not in "+-*/="), len(words)


@dataclass
class Quality:
    templates: set[str] = field(default_factory=set)
    fixed_words: int = 0
    words: int = 0
    lengths: list[int] = field(default_factory=list)

    def add(self, lines: list[str], completion: str) -> None:
        for line in lines:
            self.templates.update(templates(line))
        fixed, words = boilerplate(completion)
        self.fixed_words += fixed
        self.words += words
        self.lengths.append(len(completion))

    def percentile(self, q: float) -> int:
        ordered = sorted(self.lengths)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0

    def summary(self) -> str:
        share = self.fixed_words / self.words if self.words else 0.0
        return (
            f"{len(self.templates)} sentence templates, {share:.0%} of words boilerplate, length p50 "
            f"{self.percentile(0.5)} / p90 {self.percentile(0.9)} / max {max(self.lengths, default=0)} characters"
        )
