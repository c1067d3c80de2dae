"""Problem families (domains), and the problems of a run: from a file, a dataset or a domain's generator."""

from __future__ import annotations

import logging
from typing import Any

from metacot.problems.base import Domain, StepOutcome
from metacot.problems.config import ProblemsConfig
from metacot.problems.countdown import CountdownDomain, CountdownProblem, generate_problems, load_problems
from metacot.problems.math import MathDomain, MathProblem

log = logging.getLogger("metacot")

DOMAINS: dict[str, type] = {"countdown": CountdownDomain, "math": MathDomain}


def get_domain(name: str) -> Domain:
    """A fresh instance of the named domain, with its default options."""
    try:
        return DOMAINS[name]()
    except KeyError:
        raise ValueError(f"unknown domain {name!r}; known: {', '.join(sorted(DOMAINS))}") from None


def make_domain(config: ProblemsConfig) -> Domain:
    if config.domain == "math":
        return MathDomain(max_depth=config.max_depth)
    if config.domain in DOMAINS:
        return get_domain(config.domain)
    raise ValueError(f"problems.domain: unknown domain {config.domain!r}; known: {', '.join(sorted(DOMAINS))}")


def make_problems(config: ProblemsConfig, seed: int) -> list[Any]:
    """The run's problems, in order; generated ones derive from the run seed."""
    if config.file is not None and config.dataset is not None:
        raise ValueError("problems: give a file or a dataset, not both")
    if config.domain == "countdown":
        if config.dataset is not None:
            raise ValueError("problems.dataset: Countdown problems come from a JSONL file or the generator")
        if config.file is not None:
            return load_problems(config.file)[: config.limit]
        return generate_problems(
            config.num_problems,
            seed,
            config.num_numbers,
            config.low,
            config.high,
            config.target_low,
            config.target_high,
            config.target,
        )
    return _math_problems(config, seed)


def _math_problems(config: ProblemsConfig, seed: int) -> list[MathProblem]:
    from metacot.problems.loaders import load_math_dataset, load_math_problems, make_schema
    from metacot.problems.math_generate import generate_math_problems

    if config.file is None and config.dataset is None:
        return generate_math_problems(config.num_problems, seed, tuple(config.levels))
    schema = make_schema(
        config.preset, question_field=config.question_field, answer_field=config.answer_field, id_field=config.id_field
    )
    band = tuple(config.solve_rate) if config.solve_rate is not None else None
    if config.file is not None:
        loaded = load_math_problems(config.file, schema, band, config.skip_invalid)
    else:
        loaded = load_math_dataset(
            config.dataset, config.split, schema, solve_rate=band, skip_invalid=config.skip_invalid
        )
    for reason in loaded.skipped:
        log.warning("skipped an invalid problem: %s", reason)
    return loaded.problems[: config.limit]


__all__ = [
    "DOMAINS",
    "CountdownDomain",
    "CountdownProblem",
    "Domain",
    "MathDomain",
    "MathProblem",
    "ProblemsConfig",
    "StepOutcome",
    "get_domain",
    "make_domain",
    "make_problems",
]
