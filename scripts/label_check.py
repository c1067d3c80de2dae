"""Independent check of exported PRM step labels and preference pairs against exact Countdown reachability.

Standalone: imports nothing from metacot. It reads each export folder's data.jsonl, takes the problem
(numbers, target) from the prompt's text, replays every step "a op b = c" from the numbers with exact
fractions, and calls a step truly good iff its arithmetic is right, every earlier step's is, and the numbers
left can still reach the target (own memoised solver, all four operations, division exact; results in
between may be fractions or negative only when the prompt says so, else they must be whole and >= 0).

Measured on held-out problems (docs/training.md, "checking labels against the truth"):

    python -m metacot.cli synth --num-problems 150 --seed 4242 --out /tmp/lc-default
    python -m metacot.cli synth --num-problems 150 --seed 4242 --notice when-found --mistake-rate 0.3 \
        --out /tmp/lc-wf
    python -m metacot.cli synth --preset metacot-paper --num-problems 50 --seed 4242 --out /tmp/lc-paper
    python -m metacot.cli export RUN --pairs
    python -m metacot.cli export RUN --prm-labels [--label-source omega --rollouts 8 | --label-source mc]
    python scripts/label_check.py RUN/exports/*/data.jsonl
"""

from __future__ import annotations

import argparse
import json
import operator
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path

NUMBERS = re.compile(r"numbers \[([^\]]*)\]")
TARGET = re.compile(r"equals (-?\d+)")
STEP = re.compile(r"\s*(-?\d+(?:/\d+)?)\s*([-+*/])\s*(-?\d+(?:/\d+)?)\s*=\s*(-?\d+(?:/\d+)?)\s*")
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
TOKEN = re.compile(r"\s*(\d+|[-+*/()])")
FREE_TEXT = "may be fractions"
OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@dataclass(frozen=True)
class Problem:
    """A Countdown problem as its prompt states it."""

    numbers: tuple[Fraction, ...]
    target: Fraction
    free: bool  # results in between may be fractions or negative


def parse_problem(prompt: str) -> Problem:
    """The numbers, target and rules stated in a prompt's first line."""
    head = prompt.split("\n", 1)[0]
    nums, target = NUMBERS.search(head), TARGET.search(head)
    if nums is None or target is None:
        raise ValueError(f"prompt states no Countdown problem: {head[:80]!r}")
    numbers = tuple(Fraction(x) for x in nums.group(1).split(","))
    return Problem(numbers, Fraction(target.group(1)), FREE_TEXT in head)


def apply(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    """a op b exactly, None for division by zero."""
    return None if op == "/" and b == 0 else OPS[op](a, b)


def allowed(value: Fraction | None, free: bool) -> bool:
    """Whether a result in between is legal under the prompt's rules."""
    return value is not None and (free or (value.denominator == 1 and value >= 0))


@cache
def reachable(numbers: tuple[Fraction, ...], target: Fraction, free: bool) -> bool:
    """Whether some combination using every number exactly once equals target (numbers sorted)."""
    if len(numbers) == 1:
        return numbers[0] == target
    for i in range(len(numbers)):
        for j in range(len(numbers)):
            if i == j:
                continue
            rest = [n for k, n in enumerate(numbers) if k not in (i, j)]
            for op in "+-*/":
                value = apply(numbers[i], op, numbers[j])
                if (
                    value is not None
                    and allowed(value, free)
                    and reachable(tuple(sorted([*rest, value])), target, free)
                ):
                    return True
    return False


def step_result(numbers: list[Fraction], step: str, free: bool) -> list[Fraction] | None:
    """The numbers after a step, or None when it does not parse, uses a number not there or is wrong."""
    match = STEP.fullmatch(step)
    if match is None:
        return None
    a, op, b, c = Fraction(match[1]), match[2], Fraction(match[3]), Fraction(match[4])
    left = list(numbers)
    for operand in (a, b):
        if operand not in left:
            return None
        left.remove(operand)
    value = apply(a, op, b)
    if value != c or not allowed(value, free):
        return None
    return [*left, c]


def replay(problem: Problem, steps: list[str]) -> list[tuple[bool, bool]]:
    """Per step: (arithmetic right with every earlier step's right, truly good)."""
    numbers: list[Fraction] | None = list(problem.numbers)
    out = []
    for step in steps:
        numbers = None if numbers is None else step_result(numbers, step, problem.free)
        good = numbers is not None and reachable(tuple(sorted(numbers)), problem.target, problem.free)
        out.append((numbers is not None, good))
    return out


def evaluate(text: str) -> tuple[Fraction, list[Fraction]] | None:
    """An answer expression's exact value and the numbers it uses, None when malformed; parsed, never eval'd."""
    tokens = TOKEN.findall(text)
    if "".join(tokens) != re.sub(r"\s+", "", text):
        return None
    used: list[Fraction] = []
    pos = 0

    def atom() -> Fraction | None:
        nonlocal pos
        if pos >= len(tokens):
            return None
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            value = expr()
            if pos >= len(tokens) or tokens[pos] != ")":
                return None
            pos += 1
            return value
        if tok.isdigit():
            used.append(Fraction(tok))
            return Fraction(tok)
        return None

    def chain(sub, ops: str) -> Fraction | None:
        nonlocal pos
        value = sub()
        while value is not None and pos < len(tokens) and tokens[pos] in ops:
            op = tokens[pos]
            pos += 1
            right = sub()
            value = None if right is None else apply(value, op, right)
        return value

    def term() -> Fraction | None:
        return chain(atom, "*/")

    def expr() -> Fraction | None:
        return chain(term, "+-")

    value = expr()
    return None if value is None or pos != len(tokens) else (value, used)


def answer_correct(problem: Problem, completion: str) -> bool:
    """Whether a trajectory's <answer> uses every number once and equals the target."""
    match = ANSWER.search(completion)
    result = evaluate(match.group(1)) if match else None
    return result is not None and result[0] == problem.target and Counter(result[1]) == Counter(problem.numbers)


def think_steps(completion: str) -> list[str]:
    """The step lines of a trajectory's <think> block."""
    body = completion.split("<think>", 1)[-1].split("</think>", 1)[0]
    return [line for line in body.split("\n") if STEP.fullmatch(line)]


@dataclass
class Tally:
    """Counts for one export file."""

    confusion: Counter = field(default_factory=Counter)  # (label, truth) per unique step
    pairs: Counter = field(default_factory=Counter)


def check_labels(record: dict, tally: Tally, seen: set) -> None:
    """Add one stepwise record's labels, each unique (problem, path prefix) once."""
    problem = parse_problem(record["prompt"])
    steps = record["completions"]
    for i, ((_, good), label) in enumerate(zip(replay(problem, steps), record["labels"], strict=True)):
        key = (record["prompt"], tuple(steps[: i + 1]))
        if label is None or key in seen:
            continue
        seen.add(key)
        tally.confusion[(bool(label), good)] += 1


def check_pair(record: dict, tally: Tally) -> None:
    """Add one preference pair: truly better, inverted, wrong arithmetic chosen."""
    problem = parse_problem(record["prompt"])
    kind = record["kind"]
    tally.pairs[kind] += 1
    if kind == "trajectory":
        chosen_ok = answer_correct(problem, record["chosen"])
        rejected_ok = answer_correct(problem, record["rejected"])
        arithmetic = all(ok for ok, _ in replay(problem, think_steps(record["chosen"])))
    else:
        prefix = [line for line in record["prompt"].split("\n")[1:] if line.strip()]
        arithmetic, chosen_ok = replay(problem, [*prefix, record["chosen"]])[-1]
        rejected_ok = replay(problem, [*prefix, record["rejected"]])[-1][1]
    tally.pairs[kind, "better"] += chosen_ok and not rejected_ok
    tally.pairs[kind, "inverted"] += rejected_ok and not chosen_ok
    tally.pairs[kind, "wrong arithmetic"] += not arithmetic


def check_file(path: Path) -> Tally:
    """Tally every record of one export's data.jsonl."""
    tally, seen = Tally(), set[tuple[str, tuple[str, ...]]]()
    with path.open() as lines:
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                if "labels" in record:
                    check_labels(record, tally, seen)
                else:
                    check_pair(record, tally)
            except (ValueError, KeyError, TypeError) as error:
                sys.exit(f"{path}:{number}: {error}")
    return tally


def ratio(num: int, den: int) -> str:
    """num/den to three places, '-' when empty."""
    return f"{num / den:.3f}" if den else "-"


def report(path: Path, tally: Tally) -> str:
    """One Markdown row (labels) or one row per pair kind."""
    c = tally.confusion
    if c:
        good_p = ratio(c[True, True], c[True, True] + c[True, False])
        good_r = ratio(c[True, True], c[True, True] + c[False, True])
        bad_p = ratio(c[False, False], c[False, False] + c[False, True])
        bad_r = ratio(c[False, False], c[False, False] + c[True, False])
        return f"| {path.parent.name} | labels | {sum(c.values())} steps | {good_p} / {good_r} | {bad_p} / {bad_r} |"
    rows = []
    for kind in ("step", "trajectory"):
        n, p = tally.pairs[kind], tally.pairs
        if n:
            rows.append(
                f"| {path.parent.name} | {kind} pairs | {n} | better {100 * p[kind, 'better'] / n:.1f}% |"
                f" inverted {p[kind, 'inverted']}, wrong arithmetic chosen {p[kind, 'wrong arithmetic']} |"
            )
    return "\n".join(rows)


def main() -> None:
    """Check every data.jsonl given and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("files", nargs="+", type=Path, help="export folders' data.jsonl")
    args = parser.parse_args()
    print("| export | records | count | good precision / recall | bad precision / recall |")
    print("|---|---|---|---|---|")
    for path in args.files:
        print(report(path, check_file(path)))


if __name__ == "__main__":
    main()
