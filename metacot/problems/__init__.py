"""Problem families (domains) for search, and a registry to look them up by name."""

from __future__ import annotations

from metacot.problems.base import Domain, StepOutcome
from metacot.problems.countdown import CountdownDomain, CountdownProblem
from metacot.problems.math import MathDomain, MathProblem

DOMAINS: dict[str, type] = {"countdown": CountdownDomain, "math": MathDomain}


def get_domain(name: str) -> Domain:
    """A fresh instance of the named domain."""
    try:
        return DOMAINS[name]()
    except KeyError:
        raise ValueError(f"unknown domain {name!r}; known: {', '.join(sorted(DOMAINS))}") from None


__all__ = [
    "DOMAINS",
    "CountdownDomain",
    "CountdownProblem",
    "Domain",
    "MathDomain",
    "MathProblem",
    "StepOutcome",
    "get_domain",
]
