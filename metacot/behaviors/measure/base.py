"""What every behaviour tagger returns and the interface it implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from metacot.behaviors.definitions import BEHAVIORS


@dataclass
class BehaviorCounts:
    """How often one record shows each behaviour; None where the tagger could not tell (named in `unparsed`)."""

    counts: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(BEHAVIORS, 0))

    @property
    def unparsed(self) -> list[str]:
        return [name for name, n in self.counts.items() if n is None]

    def shows(self, behavior: str) -> bool:
        return (self.counts.get(behavior) or 0) > 0


class Tagger(Protocol):
    """Counts the four behaviours in records (dicts with at least the completion text)."""

    name: str

    def tag(self, records: list[dict]) -> list[BehaviorCounts]: ...
