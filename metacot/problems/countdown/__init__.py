"""The Countdown game (and Game of 24): parsing, the exact oracle, problem sets, the domain and its registry entry."""

from __future__ import annotations

from metacot.problems.base import DomainSpec, ProblemFileError, StepError
from metacot.problems.countdown.data import (
    CountdownConfig,
    CountdownProblem,
    countdown_problems,
    generate_problems,
    load_problems,
    problem_from_record,
)
from metacot.problems.countdown.domain import PROMPT, CountdownDomain, solution_expression, verify_answer
from metacot.problems.countdown.oracle import Move, format_move, legal_moves, reachable
from metacot.problems.countdown.parse import apply_step, evaluate_expression

COUNTDOWN = DomainSpec(build=CountdownDomain.from_config, problems=countdown_problems)

__all__ = [
    "COUNTDOWN",
    "PROMPT",
    "CountdownConfig",
    "CountdownDomain",
    "CountdownProblem",
    "Move",
    "ProblemFileError",
    "StepError",
    "apply_step",
    "countdown_problems",
    "evaluate_expression",
    "format_move",
    "generate_problems",
    "legal_moves",
    "load_problems",
    "problem_from_record",
    "reachable",
    "solution_expression",
    "verify_answer",
]
