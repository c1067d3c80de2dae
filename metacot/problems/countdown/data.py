"""Countdown problem sets: the seeded generator, the JSONL loader (TinyZero's `nums` too), [problems.countdown]."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from metacot.checks import between
from metacot.flags import flag
from metacot.jsonl import LineTooLong, bounded_lines
from metacot.problems.base import ProblemFileError, SourceSettings
from metacot.problems.countdown.oracle import reachable
from metacot.problems.draws import drawn

_MAX_DRAWS = 100_000
# Bounds on a problem, checked where problems are loaded or generated. Numbers and targets stay far inside what the
# JSON writers hold (orjson: 64-bit integers, results of steps included). The exact oracle's cost grows about 60
# times per number (an unreachable target, measured: 5 numbers 0.04 s, 6 numbers 2.4 s per call; it scores states
# of one number fewer than the problem's).
MAX_VALUE = 1_000_000
MAX_NUMBERS = 6
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
    target_low: int = field(
        default=10,
        metadata={"help": "smallest generated target: targets are drawn from [target_low, target_high] unless target "
                          "is fixed"},
    )
    target_high: int = field(default=100, metadata={"help": "largest generated target"})
    target: int | None = flag("fix the target (24: Game of 24); default: drawn from target_low..target_high", None)
    notice: str = flag(
        "when a wrong step result is found: at its own step, or when a finished path is verified",
        "immediate",
        choices=lambda: NOTICE,
    )

    def __post_init__(self) -> None:
        between("num_numbers", self.num_numbers, 1, MAX_NUMBERS, int)
        for name in ("low", "high", "target_low", "target_high"):
            between(name, getattr(self, name), 0, MAX_VALUE, int)
        if self.target is not None:
            between("target", self.target, 0, MAX_VALUE, int)
        if self.low > self.high:
            raise ValueError(f"low: {self.low} > high {self.high}: numbers are drawn from [low, high]")
        if self.target_low > self.target_high:
            raise ValueError(
                f"target_low: {self.target_low} > target_high {self.target_high}: targets are drawn from "
                "[target_low, target_high]"
            )


def countdown_problems(config: SourceSettings, section: CountdownConfig, seed: int) -> Iterator[CountdownProblem]:
    """The problems of problems.file, or `num_problems` generated from the section and the run seed, one at a time
    (a file is read, or a problem drawn, as the next one is asked for)."""
    if config.dataset is not None:
        raise ValueError("problems.dataset: Countdown problems come from a JSONL file or the generator")
    if config.file is not None:
        return iter_file_problems(config.file)
    return drawn(CountdownDrawer.from_config(config, section, seed))


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
    (non-negative whole results), so every move set of the symbolic policy can solve them. Problem i comes from the
    draws after problem i - 1's (one random stream, so that runs keep their problems): CountdownDrawer."""
    return list(drawn(CountdownDrawer(count, seed, num_numbers, low, high, target_low, target_high, target)))


@dataclass(frozen=True)
class CountdownDrawer:
    """The generator's draws (problems.draws.Drawer): numbers from [low, high] and a target from [target_low,
    target_high] (or the fixed one) until the target is reachable with stream-of-search moves."""

    count: int
    seed: int
    num_numbers: int = 4
    low: int = 1
    high: int = 99
    target_low: int = 10
    target_high: int = 100
    target: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.num_numbers <= MAX_NUMBERS or self.low < 0 or self.low > self.high or self.high > MAX_VALUE:
            raise ValueError(
                f"need 1 <= num_numbers <= {MAX_NUMBERS} and 0 <= low <= high <= {MAX_VALUE}, "
                f"got {self.num_numbers}, {self.low}, {self.high}"
            )

    @classmethod
    def from_config(cls, config: SourceSettings, section: CountdownConfig, seed: int) -> CountdownDrawer:
        fields = (section.num_numbers, section.low, section.high, section.target_low, section.target_high)
        return cls(config.num_problems, seed, *fields, section.target)

    @property
    def key(self) -> str:
        """What decides the draws (not the count: a problem's draws do not depend on how many follow)."""
        ranges = (self.num_numbers, self.low, self.high, self.target_low, self.target_high, self.target)
        return f"countdown:{self.seed}:" + ":".join(map(str, ranges))

    def problem_id(self, index: int) -> str:
        return f"countdown-{index:06d}"

    def draw(self, rng: random.Random, index: int) -> CountdownProblem:
        for _ in range(_MAX_DRAWS):
            numbers = tuple(rng.randint(self.low, self.high) for _ in range(self.num_numbers))
            goal = self.target if self.target is not None else rng.randint(self.target_low, self.target_high)
            if reachable(numbers, goal, moves="sos"):
                return CountdownProblem(self.problem_id(index), numbers, goal)
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
    if len(numbers) > MAX_NUMBERS:
        raise ValueError(
            f"field {key!r} has {len(numbers)} numbers; at most {MAX_NUMBERS} (the exact oracle's cost grows about "
            f"60 times per number: 6 numbers take up to 2.4 s per call)"
        )
    if min(numbers) < 0:
        raise ValueError(f"field {key!r} must not contain negative integers")
    if max(numbers) > MAX_VALUE:
        raise ValueError(f"field {key!r} must hold integers from 0 to {MAX_VALUE}")
    target = _field(data, "target")
    if type(target) is not int or not 0 <= target <= MAX_VALUE:
        raise ValueError(f"field 'target' must be an integer from 0 to {MAX_VALUE}")
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
    return list(iter_file_problems(path))


def iter_file_problems(path: str | Path) -> Iterator[CountdownProblem]:
    """load_problems one line at a time (the ids seen are kept, to refuse a repeated one)."""
    path = Path(path)
    try:
        yield from _parse_problems(path, bounded_lines(path, what="a problem"))
    except LineTooLong as e:
        raise ProblemFileError(str(e)) from None


def _parse_problems(path: Path, lines: Iterator[bytes]) -> Iterator[CountdownProblem]:
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
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
        yield problem
