"""A seeded math problem set made from templates (arithmetic, linear equations, fractions, percentages), 3 levels.

Every answer is computed exactly with Fraction from the numbers drawn (nothing is evaluated from text): the
problems need no download and their answers are right by construction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from fractions import Fraction

from metacot.problems.math.domain import LEVELS, MathProblem

KINDS = ("arithmetic", "linear", "fraction", "percent")
NAMES = ("Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hiro")

Template = Callable[[random.Random], tuple[str, Fraction]]


def generate_math_problems(
    count: int, seed: int, levels: tuple[int, ...] = LEVELS, kinds: tuple[str, ...] = KINDS
) -> list[MathProblem]:
    """`count` problems cycling through the levels, then the kinds; the same seed gives the same problems.

    meta holds the kind, the level and the exact value of the answer as "p/q".
    """
    if count < 0 or not levels or not kinds:
        raise ValueError("need count >= 0 and at least one level and one kind")
    for level in levels:
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; known: {', '.join(map(str, LEVELS))}")
    for kind in kinds:
        if kind not in TEMPLATES:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    return list(_generated(count, random.Random(seed), levels, kinds))


def iter_math_problems(
    count: int, seed: int, levels: tuple[int, ...] = LEVELS, kinds: tuple[str, ...] = KINDS
) -> Iterator[MathProblem]:
    """generate_math_problems one at a time (the settings checked at once)."""
    generate_math_problems(0, seed, levels, kinds)
    return _generated(count, random.Random(seed), levels, kinds)


def _generated(
    count: int, rng: random.Random, levels: tuple[int, ...], kinds: tuple[str, ...]
) -> Iterator[MathProblem]:
    for i in range(count):
        level = levels[i % len(levels)]
        kind = kinds[i // len(levels) % len(kinds)]
        question, value = TEMPLATES[kind][level - 1](rng)
        answer = decimal_or_fraction(value) if kind == "percent" else latex_fraction(value)
        meta = {"kind": kind, "level": level, "value": str(value)}
        yield MathProblem(f"mathgen-{i:06d}", question, answer, meta)


def latex_fraction(value: Fraction) -> str:
    """7, \\frac{3}{4} or -\\frac{3}{4}."""
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def decimal_or_fraction(value: Fraction) -> str:
    """A value in hundredths as a decimal (12.5), anything else as latex_fraction."""
    if 100 % value.denominator:
        return latex_fraction(value)
    whole, hundredths = divmod(abs(value) * 100, 100)
    sign = "-" if value < 0 else ""
    return f"{sign}{whole}.{int(hundredths):02d}".rstrip("0").rstrip(".")


def _frac(value: Fraction) -> str:
    """A fraction as a question writes it: 3/4."""
    return f"{value.numerator}/{value.denominator}"


def _linear(a: int, b: int) -> str:
    """ax + b with its signs written out: 3x - 7, -4x + 2."""
    sign = "-" if b < 0 else "+"
    return f"{a}x {sign} {abs(b)}"


def _proper_fraction(rng: random.Random, low: int, high: int) -> Fraction:
    q = rng.randint(low, high)
    return Fraction(rng.randint(1, q - 1), q)


# --- arithmetic -------------------------------------------------------------------------------------


def _arithmetic_1(rng: random.Random) -> tuple[str, Fraction]:
    a, b, c = rng.randint(2, 50), rng.randint(2, 50), rng.randint(2, 50)
    return f"Compute {a} + {b} - {c}.", Fraction(a + b - c)


def _arithmetic_2(rng: random.Random) -> tuple[str, Fraction]:
    a, b, d, k = rng.randint(2, 15), rng.randint(2, 15), rng.randint(2, 9), rng.randint(2, 12)
    return f"Compute {a} × {b} - {d * k} ÷ {d}.", Fraction(a * b - k)


def _arithmetic_3(rng: random.Random) -> tuple[str, Fraction]:
    x, y, m = _proper_fraction(rng, 2, 9), _proper_fraction(rng, 2, 9), rng.randint(2, 24)
    return f"Compute ({_frac(x)} + {_frac(y)}) × {m}.", (x + y) * m


# --- linear equations -------------------------------------------------------------------------------


def _linear_1(rng: random.Random) -> tuple[str, Fraction]:
    a, x, b = rng.randint(2, 9), rng.randint(1, 12), rng.randint(1, 20)
    return f"Solve for x: {_linear(a, b)} = {a * x + b}.", Fraction(x)


def _linear_2(rng: random.Random) -> tuple[str, Fraction]:
    a = rng.choice([-1, 1]) * rng.randint(2, 12)
    x, b = rng.randint(-15, 15), rng.choice([-1, 1]) * rng.randint(1, 30)
    return f"Solve for x: {_linear(a, b)} = {a * x + b}.", Fraction(x)


def _linear_3(rng: random.Random) -> tuple[str, Fraction]:
    a, c = rng.sample(range(2, 13), 2)
    b, d = (rng.choice([-1, 1]) * rng.randint(1, 20) for _ in range(2))
    return f"Solve for x: {_linear(a, b)} = {_linear(c, d)}.", Fraction(d - b, a - c)


# --- fraction word problems -------------------------------------------------------------------------


def _fraction_1(rng: random.Random) -> tuple[str, Fraction]:
    slices = rng.randint(4, 12)
    eaten = rng.randint(1, slices - 1)
    name = rng.choice(NAMES)
    question = (
        f"A pizza is cut into {slices} equal slices and {name} eats {eaten} of them. "
        "What fraction of the pizza is left?"
    )
    return question, Fraction(slices - eaten, slices)


def _fraction_2(rng: random.Random) -> tuple[str, Fraction]:
    full = _proper_fraction(rng, 3, 12)
    drained = Fraction(rng.randint(1, full.numerator * 4 - 1), full.denominator * 4)  # less than `full`
    question = (
        f"A water tank is {_frac(full)} full. Then {_frac(drained)} of the tank's capacity is drained. "
        "What fraction of the tank is full now?"
    )
    return question, full - drained


def _fraction_3(rng: random.Random) -> tuple[str, Fraction]:
    p, q, k = rng.randint(2, 6), rng.randint(2, 6), rng.randint(1, 5)
    start = Fraction(k * p * q)
    left = start * (1 - Fraction(1, p)) * (1 - Fraction(1, q))
    name = rng.choice(NAMES)
    question = (
        f"{name} spends 1/{p} of their money on books and 1/{q} of what is left on lunch, and has "
        f"${left} left. How many dollars did {name} start with?"
    )
    return question, start


# --- percentage word problems -----------------------------------------------------------------------


def _percent_1(rng: random.Random) -> tuple[str, Fraction]:
    p, n = rng.choice([5, 10, 20, 25, 50, 75]), 20 * rng.randint(1, 20)
    return f"What is {p}% of {n}?", Fraction(p * n, 100)


def _percent_2(rng: random.Random) -> tuple[str, Fraction]:
    price, p = rng.randint(20, 200), rng.choice([10, 15, 20, 25, 30, 40])
    question = f"A jacket costs ${price}. It is on sale for {p}% off. What is the sale price in dollars?"
    return question, Fraction(price * (100 - p), 100)


def _percent_3(rng: random.Random) -> tuple[str, Fraction]:
    old, p = 20 * rng.randint(2, 30), rng.choice([5, 10, 15, 20, 25, 30, 40, 50])
    new = Fraction(old * (100 + p), 100)
    question = (
        f"After a {p}% increase, the price of a bike is ${decimal_or_fraction(new)}. "
        "What was the price before the increase, in dollars?"
    )
    return question, Fraction(old)


TEMPLATES: dict[str, tuple[Template, Template, Template]] = {
    "arithmetic": (_arithmetic_1, _arithmetic_2, _arithmetic_3),
    "linear": (_linear_1, _linear_2, _linear_3),
    "fraction": (_fraction_1, _fraction_2, _fraction_3),
    "percent": (_percent_1, _percent_2, _percent_3),
}
