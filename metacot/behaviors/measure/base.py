"""What every behaviour tagger returns and the interface it implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from metacot.behaviors.definitions import BEHAVIORS

# The strict reading of backtracking: the backtracks the text makes after saying that the path it leaves does not
# work (a failed check, every option tried, a mistake found) — the study's "realizes a path won't work and goes
# back". The lenient reading (the behaviour `backtracking`) counts every jump back.
STRICT_BACKTRACKING = "strict_backtracking"
COLUMNS = (*BEHAVIORS, STRICT_BACKTRACKING)  # what a tagger may count: the four behaviours, then the strict reading


@dataclass
class BehaviorCounts:
    """How often one record shows each behaviour; None where the tagger could not tell (named in `unparsed`). The
    strict backtracking count, when the tagger reads it, under STRICT_BACKTRACKING (absent or None: not read)."""

    counts: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(BEHAVIORS, 0))

    @property
    def unparsed(self) -> list[str]:
        return [name for name in BEHAVIORS if self.counts.get(name, 0) is None]

    def known(self, name: str) -> bool:
        """The tagger counted `name` for this record."""
        return self.counts.get(name) is not None

    def shows(self, behavior: str) -> bool:
        return (self.counts.get(behavior) or 0) > 0


class Tagger(Protocol):
    """Counts the four behaviours in records (dicts with at least the completion text)."""

    name: str

    def tag(self, records: list[dict]) -> list[BehaviorCounts]: ...
