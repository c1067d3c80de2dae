"""Problem families (domains), and the problems of a run: made by each domain from a file, a dataset or a generator."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from metacot.problems.base import Domain, DomainSpec, ProblemFileError, StepError, StepOutcome
from metacot.problems.config import DOMAINS, ProblemsConfig
from metacot.problems.countdown import CountdownDomain, CountdownProblem
from metacot.problems.math import MathDomain, MathProblem


def get_domain(name: str) -> Domain:
    """The named domain with its section's default settings."""
    return make_domain(ProblemsConfig(domain=name))


def make_domain(config: ProblemsConfig) -> Domain:
    """The chosen domain, built from its section."""
    return config.spec().build(config.section())


def problem_digests(problems: list[Any]) -> dict[str, str]:
    """Each problem's id and a digest of its content (every field), in order."""
    return {p.id: hashlib.sha256(orjson.dumps(p, default=str)).hexdigest()[:16] for p in problems}


def content_digest(digests: dict[str, str]) -> str:
    """One digest of a problem set's ids, contents and order."""
    return hashlib.sha256(orjson.dumps(list(digests.items()))).hexdigest()[:16]


def make_problems(config: ProblemsConfig, seed: int) -> list[Any]:
    """The run's problems, in order; generated ones derive from the run seed, `limit` cuts a file or dataset."""
    if config.file is not None and config.dataset is not None:
        raise ValueError("problems: give a file or a dataset, not both")
    problems = config.spec().problems(config, config.section(), seed)
    return problems if config.file is None and config.dataset is None else problems[: config.limit]


__all__ = [
    "DOMAINS",
    "CountdownDomain",
    "CountdownProblem",
    "Domain",
    "DomainSpec",
    "MathDomain",
    "MathProblem",
    "ProblemFileError",
    "ProblemsConfig",
    "StepError",
    "StepOutcome",
    "get_domain",
    "make_domain",
    "make_problems",
]
