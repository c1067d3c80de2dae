"""The Countdown game (and Game of 24): parsing, the exact oracle, problem sets, the domain and its registry entry."""

from __future__ import annotations

from metacot.problems.base import DomainSpec, ProblemFileError, StepError
from metacot.problems.countdown.data import (
    CountdownConfig,
    CountdownDrawer,
    CountdownProblem,
    countdown_problems,
    generate_problems,
    iter_file_problems,
    load_problems,
    problem_from_record,
)
from metacot.problems.countdown.domain import (
    PROMPT,
    CountdownDomain,
    answer_error,
    solution_expression,
    verify_answer,
)
from metacot.problems.countdown.oracle import MOVE_SETS, Move, format_move, legal_moves, reachable
from metacot.problems.countdown.parse import Number, apply_step, evaluate_expression, format_state

COUNTDOWN = DomainSpec(
    build=CountdownDomain.from_config, problems=countdown_problems, drawer=CountdownDrawer.from_config
)

__all__ = [
    "COUNTDOWN",
    "MOVE_SETS",
    "PROMPT",
    "CountdownConfig",
    "CountdownDomain",
    "CountdownDrawer",
    "CountdownProblem",
    "Move",
    "Number",
    "ProblemFileError",
    "StepError",
    "answer_error",
    "apply_step",
    "countdown_problems",
    "evaluate_expression",
    "format_move",
    "format_state",
    "generate_problems",
    "iter_file_problems",
    "legal_moves",
    "load_problems",
    "problem_from_record",
    "reachable",
    "solution_expression",
    "verify_answer",
]
