"""Countdown moves and the exact oracle: the moves of a state under a move set, and whether the target is reachable.

Two move sets: "sos" (stream of search: non-negative whole results, larger operand first for '-' and '/') and
"all" (every exact result: a - b and b - a, a / b and b / a when the divisor is not 0, fractions and negatives).
The oracle's default is "all": the rules the verifier applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from functools import lru_cache

from metacot.problems.countdown.parse import Number, exact, to_number

Move = tuple[Number, str, Number, Number]  # (a, op, b, result) as a state writes numbers
MOVE_SETS = ("sos", "all")
Exact = int | Fraction  # whole values stay ints on the oracle's hot path; Fraction only where needed


def _results(a: Exact, b: Exact, moves: str) -> list[tuple[Exact, str, Exact, Exact]]:
    """(x, op, y, x op y) for one pair of values under a move set, '+' and '*' in the pair's order."""
    hi, lo = (a, b) if a >= b else (b, a)
    found = [(a, "+", b, a + b), (hi, "-", lo, hi - lo)]
    if moves == "all":
        found.append((lo, "-", hi, lo - hi))
    found.append((a, "*", b, a * b))
    if moves == "all":
        found.extend((x, "/", y, _divide(x, y)) for x, y in ((hi, lo), (lo, hi)) if y != 0)
    elif lo and not hi % lo:
        found.append((hi, "/", lo, _divide(hi, lo)))
    if moves == "sos":
        found = [m for m in found if m[3] >= 0 and _whole(m[3])]
    return found


def _divide(a: Exact, b: Exact) -> Exact:
    if type(a) is int and type(b) is int and not a % b:
        return a // b
    return _compact(Fraction(a) / b)


def _compact(value: Fraction) -> Exact:
    return value.numerator if value.denominator == 1 else value


def _whole(value: Exact) -> bool:
    return type(value) is int or value.denominator == 1


def _values(state: Iterable[Number]) -> list[Exact]:
    return [n if type(n) is int else _compact(exact(n)) for n in state]


def legal_moves(state: tuple[Number, ...] | list[Number], moves: str = "sos") -> list[Move]:
    """Every (a, op, b, result) of the move set over pairs of positions i < j, in a fixed order."""
    values = _values(state)
    found: list[Move] = []
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            for a, op, b, result in _results(values[i], values[j], moves):
                found.append((_number(a), op, _number(b), _number(result)))
    return found


def _number(value: Exact) -> Number:
    return value if type(value) is int else to_number(Fraction(value))


def format_move(move: Move) -> str:
    """'a op b = c'; an operand that is negative or a fraction is written in parentheses: '8 / (8/3) = 3'."""
    a, op, b, result = move
    return f"{_operand(a)} {op} {_operand(b)} = {result}"


def _operand(number: Number) -> str:
    return str(number) if type(number) is int and number >= 0 else f"({number})"


def reachable(state: Iterable[Number], target: int, moves: str = "all") -> bool:
    """Whether combining ALL the numbers in the state under the move set can give exactly the target (the exact
    oracle); with "all", whether an answer the verifier accepts exists."""
    values = _values(state)
    if not values:
        return False
    if len(values) == 1:
        return values[0] == target
    if len(values) == 2:
        return _reach2(values[0], values[1], target)
    return _reachable(tuple(sorted(values)), target, moves)


def _reach2(a: Exact, b: Exact, target: int) -> bool:
    # The last operation is the same under both move sets for a whole, non-negative target:
    # a / b == target  <=>  a == target * b (b != 0).
    return (
        a + b == target
        or a * b == target
        or a - b == target
        or b - a == target
        or (b != 0 and a == target * b)
        or (a != 0 and b == target * a)
    )


@lru_cache(maxsize=2**20)
def _reachable(values: tuple[Exact, ...], target: int, moves: str) -> bool:
    """Three or more values, sorted: try every pair and result, memoized."""
    n = len(values)
    for i in range(n):
        for j in range(i + 1, n):
            rest = values[:i] + values[i + 1 : j] + values[j + 1 :]
            for *_, result in _results(values[i], values[j], moves):
                if n == 3:
                    if _reach2(rest[0], result, target):
                        return True
                elif _reachable(tuple(sorted((*rest, result))), target, moves):
                    return True
    return False
