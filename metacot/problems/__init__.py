"""Problem families (domains) for search, and a registry to look them up by name."""

from __future__ import annotations

from metacot.problems.base import Domain, StepOutcome
from metacot.problems.countdown import CountdownDomain, CountdownProblem

DOMAINS: dict[str, type] = {"countdown": CountdownDomain}


def get_domain(name: str) -> Domain:
    """A fresh instance of the named domain."""
    try:
        return DOMAINS[name]()
    except KeyError:
        raise ValueError(f"unknown domain {name!r}; known: {', '.join(sorted(DOMAINS))}") from None


__all__ = ["DOMAINS", "CountdownDomain", "CountdownProblem", "Domain", "StepOutcome", "get_domain"]
