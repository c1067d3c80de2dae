"""The [problems] table and each domain's section, the registry of domains, and the move of the old flat keys."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from metacot.checks import at_least, optional_at_least
from metacot.flags import flag
from metacot.problems.base import DomainSpec
from metacot.problems.countdown import COUNTDOWN, CountdownConfig
from metacot.problems.math import MATH, MathConfig

log = logging.getLogger("metacot")

# Each domain: its entry here and its section, a ProblemsConfig field named as the domain ([problems.<name>]).
DOMAINS: dict[str, DomainSpec] = {"countdown": COUNTDOWN, "math": MATH}

# The keys [problems] held before the per-domain sections, and the section each one moved to.
FLAT_KEYS = {
    **dict.fromkeys(("num_numbers", "low", "high", "target_low", "target_high", "target"), "countdown"),
    **dict.fromkeys(
        ("preset", "question_field", "answer_field", "id_field", "solve_rate", "skip_invalid", "max_depth", "levels"),
        "math",
    ),
}


@dataclass
class ProblemsConfig:
    domain: str = flag("problem family", "countdown", choices=lambda: DOMAINS)  # a key of DOMAINS
    file: str | None = flag(  # None: generate problems
        "problems file (Countdown: JSONL; math: JSONL, JSON, Parquet, CSV)", None, name="--problems", metavar="FILE"
    )
    dataset: str | None = flag("math: a datasets.load_dataset name or path, instead of a file", None, metavar="NAME")
    split: str = flag("the dataset's split", "train", metavar="NAME")
    limit: int | None = flag("use only the first N problems of a file or dataset", None)
    num_problems: int = flag("how many problems to generate when there is no file or dataset", 100)
    countdown: CountdownConfig = field(default_factory=CountdownConfig)
    math: MathConfig = field(default_factory=MathConfig)

    def __post_init__(self) -> None:
        optional_at_least("limit", self.limit, 1)
        at_least("num_problems", self.num_problems, 1)

    def spec(self) -> DomainSpec:
        """The chosen domain's registry entry; ValueError naming the known ones."""
        if self.domain not in DOMAINS:
            raise ValueError(f"problems.domain: unknown domain {self.domain!r}; known: {', '.join(sorted(DOMAINS))}")
        return DOMAINS[self.domain]

    def section(self) -> Any:
        """The chosen domain's own settings, [problems.<domain>]."""
        self.spec()
        return getattr(self, self.domain)

    def tree_settings(self) -> dict:
        """The settings that change the problems: the sections of domains not chosen do not count."""
        return {key: value for key, value in asdict(self).items() if key not in DOMAINS or key == self.domain}

    @classmethod
    def migrate(cls, data: dict, where: str) -> dict:
        """`data` with the old flat keys moved into their domain's section, each with a deprecation warning."""
        moved, notes = move_flat_keys(data, where)
        for note in notes:
            log.warning("%s", note)
        return moved


def move_flat_keys(data: dict, where: str) -> tuple[dict, list[str]]:
    """The table with each old flat key moved into its section, and a note for each; ValueError when a key is
    given both ways. A run's manifest from before the sections is read the same way."""
    moved = dict(data)
    notes = []
    for key, name in FLAT_KEYS.items():
        if key not in data:
            continue
        section = moved.get(name, {})
        if not isinstance(section, dict):
            return data, []  # the section itself is wrong: reading it says so
        new = f"{where.rpartition(': ')[2]}.{name}.{key}"  # the key alone, without the file `where` may name
        if key in section:
            raise ValueError(f"{where}.{key} and {new} are both given: keep only {new}")
        moved[name] = {**section, key: moved.pop(key)}
        notes.append(f"{where}.{key} is deprecated: use {new}")
    return moved, notes
