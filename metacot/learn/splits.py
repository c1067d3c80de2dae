"""The experiment's Countdown problems and their disjoint splits: train, validation, held-out (with unseen targets).

Stream of Search's protocol: a seeded slice of the targets is kept out of training altogether, and held-out
problems share no (sorted numbers, target) with training or validation, so a model cannot have seen a held-out
problem in any order of its numbers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from metacot.outputs.files import AtomicFile, write_json_atomic
from metacot.problems.countdown import CountdownProblem, generate_problems, load_problems

SPLITS = ("train", "validation", "heldout")
NEW_TARGETS = "new_targets.json"


@dataclass(frozen=True)
class SplitSizes:
    """How many problems each split holds, and how the problems are drawn."""

    train: int
    validation: int
    heldout: int  # held-out problems whose target appears in training
    heldout_new_targets: int  # held-out problems whose target never appears in training
    num_numbers: int = 3
    low: int = 1
    high: int = 99
    target_low: int = 10
    target_high: int = 100
    target_share: float = 0.1  # of the targets in [target_low, target_high], the share kept out of training


@dataclass
class Splits:
    train: list[CountdownProblem]
    validation: list[CountdownProblem]
    heldout: list[CountdownProblem]  # both kinds; new_targets says which targets training never saw
    new_targets: frozenset[int]

    def split(self, name: str) -> list[CountdownProblem]:
        return {"train": self.train, "validation": self.validation, "heldout": self.heldout}[name]

    def has_new_target(self, problem: CountdownProblem) -> bool:
        return problem.target in self.new_targets


def problem_key(problem: CountdownProblem) -> tuple[tuple[int, ...], int]:
    """What makes two problems the same: the numbers in any order, and the target."""
    return tuple(sorted(problem.numbers)), problem.target


def learn_prompt(problem: CountdownProblem) -> str:
    """The compact prompt a from-scratch model reads: `nums: 3 7 9 target: 24` and a newline."""
    return f"nums: {' '.join(map(str, problem.numbers))} target: {problem.target}\n"


def held_out_targets(sizes: SplitSizes, seed: int) -> frozenset[int]:
    """The seeded slice of targets that only held-out problems have (at least one when the share is above 0)."""
    targets = list(range(sizes.target_low, sizes.target_high + 1))
    count = round(sizes.target_share * len(targets))
    count = max(count, 1) if sizes.target_share > 0 else 0
    return frozenset(random.Random(f"learn-targets:{seed}").sample(targets, min(count, len(targets) - 1)))


def make_splits(sizes: SplitSizes, seed: int) -> Splits:
    """Draw distinct solvable problems (metacot's generator) until every split is full: problems with a held-out
    target fill heldout_new_targets, the others train, validation and heldout, in a seeded order. ValueError when
    the ranges have too few distinct problems."""
    new_targets = held_out_targets(sizes, seed)
    seen: list[CountdownProblem] = []
    unseen: list[CountdownProblem] = []
    others = sizes.train + sizes.validation + sizes.heldout
    for problem in _distinct(sizes, seed, others + sizes.heldout_new_targets):
        pool = unseen if problem.target in new_targets else seen
        pool.append(problem)
        if len(seen) >= others and len(unseen) >= sizes.heldout_new_targets:
            break
    else:
        raise ValueError(
            f"only {len(seen)} + {len(unseen)} distinct problems in the ranges; asked for {others} + "
            f"{sizes.heldout_new_targets}: widen the number or target ranges"
        )
    random.Random(f"learn-splits:{seed}").shuffle(seen)
    train, rest = seen[: sizes.train], seen[sizes.train : others]
    validation, heldout = rest[: sizes.validation], rest[sizes.validation :]
    return Splits(train, validation, heldout + unseen[: sizes.heldout_new_targets], new_targets)


def _distinct(sizes: SplitSizes, seed: int, wanted: int) -> Iterator[CountdownProblem]:
    """Solvable problems no two of which share a key, drawn in growing batches (the generator's problem i is the
    same whatever the count), until the draws stop giving new ones."""
    keys: set[tuple[tuple[int, ...], int]] = set()
    start, count = 0, max(2 * wanted, 64)
    while True:
        batch = generate_problems(
            count, seed, sizes.num_numbers, sizes.low, sizes.high, sizes.target_low, sizes.target_high
        )[start:]
        fresh = 0
        for problem in batch:
            key = problem_key(problem)
            if key not in keys:
                keys.add(key)
                fresh += 1
                yield problem
        if fresh == 0:
            return
        start, count = count, 2 * count


def write_splits(splits: Splits, directory: Path) -> None:
    """problems/<split>.jsonl, one problem a line, each held-out one marked with whether its target is new."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        lines = []
        for problem in splits.split(name):
            record = {"id": problem.id, "numbers": list(problem.numbers), "target": problem.target}
            if name == "heldout":
                record["new_target"] = splits.has_new_target(problem)
            lines.append(orjson.dumps(record) + b"\n")
        with AtomicFile(directory / f"{name}.jsonl") as file:
            file.write(b"".join(lines))
    write_json_atomic(directory / NEW_TARGETS, sorted(splits.new_targets))


def read_splits(directory: Path) -> Splits:
    """The splits write_splits saved."""
    loaded = {name: load_problems(directory / f"{name}.jsonl") for name in SPLITS}
    new_targets = frozenset(orjson.loads((directory / NEW_TARGETS).read_bytes()))
    return Splits(loaded["train"], loaded["validation"], loaded["heldout"], new_targets)
