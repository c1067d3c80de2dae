"""Countdown plans a priming trace states: subgoals and backward chains, each checked with the exact oracle.

A subgoal is a number that part of the numbers left (two or more, not all) can make, which is a factor or a multiple
of the target or near it (within 10, or a quarter of the target when that is more), never the target itself, and with
which the other numbers can still reach the target; the oracle checks both. Where no such number exists, any number one
step makes from two of them, with which the others can still reach the target, is the subgoal. A backward chain
writes the target as one number left combined with a value y, and y can be made from the other numbers left (at
least two of them): "47 = 61 - 14, so I need 14 from [42, 66]."
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations

from metacot.problems.countdown.oracle import legal_moves, reachable
from metacot.problems.countdown.parse import Number, exact, format_state, to_number

NEAR = 10, 4  # a subgoal within max(10, target / 4) of the target (and not equal to it) is near it


@dataclass(frozen=True)
class Subgoal:
    """Make `value` from the numbers `part`; `why` says how it relates to the target (None: only that the others
    can still reach the target with it); `rest`: the other numbers."""

    value: int
    part: tuple[Number, ...]
    why: str | None
    rest: tuple[Number, ...]

    def sentence(self, target: int) -> str:
        why = f" ({self.why})" if self.why else ""
        return (
            f"First I'll try to get {self.value}{why} from {format_state(self.part)}; "
            f"then {format_state((*self.rest, self.value))} could still make {target}."
        )


@dataclass(frozen=True)
class Chain:
    """target = left op right, where `number` (one number left) is one side and `need` the other."""

    left: Number
    op: str
    right: Number
    need: int
    rest: tuple[Number, ...]

    def sentence(self, target: int) -> str:
        return (
            f"Working backwards, {target} = {self.left} {self.op} {self.right}, "
            f"so I need {self.need} from {format_state(self.rest)}."
        )


def _relation(value: int, target: int) -> str | None:
    """How a candidate subgoal relates to the target, or None when it is no subgoal."""
    if value == target or value <= 1:
        return None
    if target % value == 0:
        return f"a factor of {target}"
    if value % target == 0:
        return f"a multiple of {target}"
    if abs(value - target) <= max(NEAR[0], target / NEAR[1]):
        return f"near {target}"  # not "3 away from 54": a distance to the target reads as a check of a result
    return None


def _without(state: tuple[Number, ...], *positions: int) -> tuple[Number, ...]:
    return tuple(n for k, n in enumerate(state) if k not in positions)


def _candidates(part: tuple[Number, ...], target: int) -> list[int]:
    """Values the part might make that relate to the target: one step's whole results for a pair; the target's
    factors, its double and triple, and the numbers near it for a larger part."""
    if len(part) == 2:
        return sorted({result for *_, result in legal_moves(part, "sos") if isinstance(result, int)})
    near = int(max(NEAR[0], target / NEAR[1]))
    return sorted({*range(max(2, target - near), target + near + 1), 2 * target, 3 * target} | _factors(target))


def _factors(target: int) -> set[int]:
    return {k for k in range(2, abs(target)) if target % k == 0}


def subgoals(state: tuple[Number, ...], target: int) -> list[Subgoal]:
    """Every subgoal of a state with three or more numbers, pairs first, in a fixed order; the plain ones (no
    relation to the target) only when there is no other."""
    related: list[Subgoal] = []
    plain: list[Subgoal] = []
    for size in range(2, len(state)):
        for positions in combinations(range(len(state)), size):
            part = tuple(state[k] for k in positions)
            rest = _without(state, *positions)
            for value in _candidates(part, target):
                why = _relation(value, target)
                if (why is not None or size == 2) and value != target and _leads(part, value, rest, target):
                    (related if why is not None else plain).append(Subgoal(value, part, why, rest))
    return related or plain


def _leads(part: tuple[Number, ...], value: int, rest: tuple[Number, ...], target: int) -> bool:
    """The part can make the value, and the rest can reach the target with it."""
    return reachable(part, value) and reachable((*rest, value), target)


def _sides(number: Fraction, target: int) -> list[tuple[Fraction, str, Fraction, Fraction]]:
    """(left, op, right, need) with target = left op right, `number` one side and `need` the other."""
    t = Fraction(target)
    sides = [(number, "+", t - number, t - number), (number, "-", number - t, number - t)]
    sides.append((t + number, "-", number, t + number))
    if number != 0:
        sides.append((number, "*", t / number, t / number))
        sides.append((t * number, "/", number, t * number))
    if t != 0:
        sides.append((number, "/", number / t, number / t))
    return sides


def chains(state: tuple[Number, ...], target: int) -> list[Chain]:
    """Every backward chain of a state with three or more numbers whose needed value is a positive whole number
    the other numbers can make, in a fixed order."""
    found: list[Chain] = []
    if len(state) < 3:
        return found
    for k, number in enumerate(state):
        rest = _without(state, k)
        for left, op, right, need in _sides(exact(number), target):
            if need.denominator == 1 and 0 < need != target and reachable(rest, int(need)):
                found.append(Chain(to_number(left), op, to_number(right), int(need), rest))
    return found
