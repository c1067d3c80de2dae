"""The built-in Countdown handbook as move-ordering heuristics: with no model to read a behaviour's words, each
built-in behaviour is a hand-written preference over the symbolic policy's moves, and a problem's retrieved behaviours
order its moves. One of them, finish_with_last_pair, is an exact one-move lookahead on the target, not a habit of
reasoning: most of what the built-in handbook gains comes from it (docs/behaviors/handbooks.md)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from metacot.backends.request import MoveOrder
from metacot.problems.countdown import Move, Number

# (state before the move, the move, the target) -> a preference: higher first
Preference = Callable[[tuple[Number, ...], Move, int], float]


def _value(number: Number) -> Fraction:
    return Fraction(str(number))


def _rest(state: tuple[Number, ...], move: Move) -> list[Fraction]:
    """The numbers the move leaves besides its result."""
    rest = [_value(n) for n in state]
    rest.remove(_value(move[0]))
    rest.remove(_value(move[2]))
    return rest


def _one_op(x: Fraction, y: Fraction) -> set[Fraction]:
    return {x + y, x - y, y - x, x * y} | ({x / y} if y else set()) | ({y / x} if x else set())


def finish_with_last_pair(state: tuple[Number, ...], move: Move, target: int) -> float:
    """An exact one-move lookahead: 1 for a move that makes the target, or that leaves two numbers one operation
    from it (every operation on them is tried), else 0."""
    result, rest = _value(move[3]), _rest(state, move)
    if not rest:
        return float(result == target)
    return float(len(rest) == 1 and target in _one_op(result, rest[0]))


def target_factorisation(state: tuple[Number, ...], move: Move, target: int) -> float:
    """1 for a move whose result is a whole divisor of the target (above 1), else 0."""
    result = _value(move[3])
    return float(result > 1 and result.denominator == 1 and target % int(result) == 0)


def near_target_subgoal(state: tuple[Number, ...], move: Move, target: int) -> float:
    """The nearer the move's result to the target, the higher (minus the gap, in targets)."""
    return -float(abs(_value(move[3]) - target)) / max(abs(target), 1)


def combine_small_numbers_first(state: tuple[Number, ...], move: Move, target: int) -> float:
    """1 for a move on the two smallest numbers, else 0."""
    smallest = sorted(_value(n) for n in state)[:2]
    return float(sorted([_value(move[0]), _value(move[2])]) == smallest)


def avoid_wasted_numbers(state: tuple[Number, ...], move: Move, target: int) -> float:
    """-1 for a move that makes 0 or 1 (unless the target is one of them), else 0."""
    return -float(_value(move[3]) in (0, 1) and target not in (0, 1))


def stay_in_range(state: tuple[Number, ...], move: Move, target: int) -> float:
    """-1 for a move whose result is more than twice the target (and 10) from zero, else 0."""
    return -float(abs(_value(move[3])) > 2 * abs(target) + 10)


PREFERENCES: dict[str, Preference] = {
    f.__name__: f
    for f in (
        finish_with_last_pair,
        target_factorisation,
        near_target_subgoal,
        combine_small_numbers_first,
        avoid_wasted_numbers,
        stay_in_range,
    )
}


def order_moves(moves: list[Move], state: tuple[Number, ...], target: int, behaviors: list[str]) -> list[Move]:
    """The moves, most preferred first: by the first known behaviour's preference, then the next's, ...; the
    moves' order otherwise kept. Behaviours without a preference here (distilled by a model) are ignored."""
    known = [PREFERENCES[name] for name in behaviors if name in PREFERENCES]
    if not known:
        return moves
    return sorted(moves, key=lambda move: tuple(-prefer(state, move, target) for prefer in known))


def move_order(behaviors: list[str]) -> MoveOrder | None:
    """The move-ordering hook of a problem conditioned on these behaviours (order_moves toward its target); None
    without behaviours: the moves stay as sampled."""
    if not behaviors:
        return None

    def ordered(moves: list[Move], state: tuple[Number, ...], problem: Any) -> list[Move]:
        return order_moves(moves, state, problem.target, behaviors)

    return ordered
