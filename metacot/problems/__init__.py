"""Problem families (domains), and the problems of a run: made by each domain from a file, a dataset or a generator."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson

from metacot.problems.base import Domain, DomainSpec, ProblemFileError, StepError, StepOutcome, problem_digest
from metacot.problems.config import DOMAINS, ProblemsConfig
from metacot.problems.countdown import CountdownDomain, CountdownProblem
from metacot.problems.draws import drawn
from metacot.problems.math import MathDomain, MathProblem


def get_domain(name: str) -> Domain:
    """The named domain with its section's default settings."""
    return make_domain(ProblemsConfig(domain=name))


def make_domain(config: ProblemsConfig) -> Domain:
    """The chosen domain, built from its section."""
    return config.spec().build(config.section())


def problem_digests(problems: Iterable[Any]) -> dict[str, str]:
    """Each problem's id and a digest of its content (every field), in order."""
    return {p.id: problem_digest(p) for p in problems}


def content_digest(digests: dict[str, str]) -> str:
    """One digest of a problem set's ids, contents and order."""
    return hashlib.sha256(orjson.dumps(list(digests.items()))).hexdigest()[:16]


def make_problems(config: ProblemsConfig, seed: int) -> list[Any]:
    """The run's problems, in order; generated ones derive from the run seed, `limit` cuts a file or dataset."""
    return list(ProblemStream(config, seed))


@dataclass
class ProblemStream:
    """The run's problems (make_problems), made again on each pass and never all held: drawn one at a time, or read
    from a Countdown file line by line. A source that gives a list (a math file or dataset, read whole to detect
    its schema) is held and read once."""

    config: ProblemsConfig
    seed: int
    _held: list[Any] | None = None

    def __post_init__(self) -> None:
        if self.config.file is not None and self.config.dataset is not None:
            raise ValueError("problems: give a file or a dataset, not both")

    @property
    def generated(self) -> bool:
        return self.config.file is None and self.config.dataset is None

    def __iter__(self) -> Iterator[Any]:
        if self._held is not None:
            return iter(self._held)
        made = self.config.spec().problems(self.config, self.config.section(), self.seed)
        if self.generated:
            return iter(made)
        if isinstance(made, list):
            self._held = made[: self.config.limit]
            return iter(self._held)
        return islice(made, self.config.limit)

    def todo(
        self, done: Container[str], saved: Iterable[Any] = (), save: Callable[[dict], None] | None = None
    ) -> Iterator[Any]:
        """The problems whose ids are not `done`, in order. A generator that resumes (DomainSpec.drawer) skips the
        finished ones from the random states `saved` by an earlier pass (records it handed to `save`)."""
        spec = self.config.spec()
        if not self.generated or spec.drawer is None:
            return (p for p in self if p.id not in done)
        return drawn(spec.drawer(self.config, self.config.section(), self.seed), done, saved, save)

    def count(self) -> int:
        """How many there are: for a file, a pass over it."""
        if self.generated:
            return self.config.num_problems
        return len(self._held) if self._held is not None else sum(1 for _ in self)


__all__ = [
    "DOMAINS",
    "CountdownDomain",
    "CountdownProblem",
    "Domain",
    "DomainSpec",
    "MathDomain",
    "MathProblem",
    "ProblemFileError",
    "ProblemStream",
    "ProblemsConfig",
    "StepError",
    "StepOutcome",
    "get_domain",
    "make_domain",
    "make_problems",
]
