"""Countdown problem sets: the seeded generator, the JSONL loader (TinyZero's `nums` too), [problems.countdown]."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from metacot.flags import flag
from metacot.problems.base import ProblemFileError
from metacot.problems.countdown.oracle import reachable

if TYPE_CHECKING:
    from metacot.problems.config import ProblemsConfig

_MAX_DRAWS = 100_000
# When a wrong step result is found: "immediate" (its own step's check: a dead node) or "when-found" (the step is
# taken at face value, and the verification of a finished path below it finds the mistake).
NOTICE = ("immediate", "when-found")


@dataclass(frozen=True, slots=True)
class CountdownProblem:
    id: str
    numbers: tuple[int, ...]
    target: int


@dataclass
class CountdownConfig:
    """[problems.countdown]: how problems are generated when there is no file, and when wrong steps are found."""

    num_numbers: int = flag("numbers per generated problem", 4)
    low: int = flag("smallest generated number", 1)  # numbers lie in [low, high]
    high: int = flag("largest generated number", 99)
    target_low: int = 10  # targets lie in [target_low, target_high] ...
    target_high: int = 100
    target: int | None = flag("fix the target (24: Game of 24); default: drawn from target_low..target_high", None)
    notice: str = flag(
        "when a wrong step result is found: at its own step, or when a finished path is verified",
        "immediate",
        choices=lambda: NOTICE,
    )


def countdown_problems(config: ProblemsConfig, section: CountdownConfig, seed: int) -> list[CountdownProblem]:
    """The problems of problems.file, or `num_problems` generated from the section and the run seed."""
    if config.dataset is not None:
        raise ValueError("problems.dataset: Countdown problems come from a JSONL file or the generator")
    if config.file is not None:
        return load_problems(config.file)
    return generate_problems(
        config.num_problems,
        seed,
        section.num_numbers,
        section.low,
        section.high,
        section.target_low,
        section.target_high,
        section.target,
    )


def generate_problems(
    count: int,
    seed: int,
    num_numbers: int = 4,
    low: int = 1,
    high: int = 99,
    target_low: int = 10,
    target_high: int = 100,
    target: int | None = None,
) -> list[CountdownProblem]:
    """Seeded solvable instances: numbers drawn from [low, high], the target from [target_low, target_high]
    unless fixed (target=24 with numbers 1..13 is the Game of 24). Solvable with stream-of-search moves
    (non-negative whole results), so every move set of the symbolic policy can solve them."""
    if num_numbers < 1 or low < 0 or low > high:
        raise ValueError(f"need num_numbers >= 1 and 0 <= low <= high, got {num_numbers}, {low}, {high}")
    rng = random.Random(seed)
    return [
        _draw_solvable(rng, f"countdown-{i:06d}", num_numbers, low, high, target_low, target_high, target)
        for i in range(count)
    ]


def _draw_solvable(
    rng: random.Random,
    problem_id: str,
    num_numbers: int,
    low: int,
    high: int,
    target_low: int,
    target_high: int,
    target: int | None,
) -> CountdownProblem:
    for _ in range(_MAX_DRAWS):
        numbers = tuple(rng.randint(low, high) for _ in range(num_numbers))
        goal = target if target is not None else rng.randint(target_low, target_high)
        if reachable(numbers, goal, moves="sos"):
            return CountdownProblem(problem_id, numbers, goal)
    raise ValueError(f"no solvable instance in {_MAX_DRAWS} draws: check the number and target ranges")


def problem_from_record(data: object, default_id: str | None = None) -> CountdownProblem:
    """A problem from {"id", "numbers" | "nums", "target"}; ValueError naming the bad field."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    key = "numbers" if "numbers" in data or "nums" not in data else "nums"
    numbers = _field(data, key)
    if not isinstance(numbers, list) or not all(type(n) is int for n in numbers):
        raise ValueError(f"field {key!r} must be a list of integers")
    if not numbers:
        raise ValueError(f"field {key!r} must not be empty")
    if min(numbers) < 0:
        raise ValueError(f"field {key!r} must not contain negative integers")
    target = _field(data, "target")
    if type(target) is not int or target < 0:
        raise ValueError("field 'target' must be a non-negative integer")
    problem_id = data.get("id", default_id)
    if problem_id is None:
        raise ValueError("missing field 'id'")
    if not isinstance(problem_id, str) or not problem_id:
        raise ValueError("field 'id' must be a non-empty string")
    return CountdownProblem(problem_id, tuple(numbers), target)


def _field(data: dict, key: str) -> object:
    if key not in data:
        raise ValueError(f"missing field {key!r}")
    return data[key]


def load_problems(path: str | Path) -> list[CountdownProblem]:
    """Problems from JSONL (blank lines skipped); a ProblemFileError names the file, line and field."""
    path = Path(path)
    problems: list[CountdownProblem] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            problem = problem_from_record(orjson.loads(line), f"{path.stem}-{lineno:06d}")
        except orjson.JSONDecodeError as e:
            raise ProblemFileError(f"{path}:{lineno}: invalid JSON: {e}") from None
        except ValueError as e:
            raise ProblemFileError(f"{path}:{lineno}: {e}") from None
        if problem.id in first_line:
            raise ProblemFileError(
                f"{path}:{lineno}: duplicate id {problem.id!r} (first on line {first_line[problem.id]})"
            )
        first_line[problem.id] = lineno
        problems.append(problem)
    return problems
