"""Countdown moves and the exact oracle: every legal move of a state, and whether a state can still reach the target."""

from __future__ import annotations

from functools import lru_cache

Move = tuple[int, str, int, int]


def legal_moves(state: tuple[int, ...]) -> list[Move]:
    """Every (a, op, b, result) over pairs of positions i < j; larger operand first for '-' and '/'."""
    moves: list[Move] = []
    n = len(state)
    for i in range(n):
        a = state[i]
        for j in range(i + 1, n):
            b = state[j]
            hi, lo = (a, b) if a >= b else (b, a)
            moves.append((a, "+", b, a + b))
            moves.append((hi, "-", lo, hi - lo))
            moves.append((a, "*", b, a * b))
            if lo and not hi % lo:
                moves.append((hi, "/", lo, hi // lo))
    return moves


def format_move(move: Move) -> str:
    a, op, b, result = move
    return f"{a} {op} {b} = {result}"


def reachable(state: tuple[int, ...], target: int) -> bool:
    """Whether combining ALL the numbers in the state can give exactly the target (the exact oracle)."""
    n = len(state)
    if n == 1:
        return state[0] == target
    if n == 2:
        return _reach2(state[0], state[1], target)
    if n == 3:
        return _reach3(state[0], state[1], state[2], target)
    return _reachable(tuple(sorted(state)), target)


def _results(a: int, b: int) -> tuple[int, ...]:
    """Every value one legal operation makes of a and b."""
    hi, lo = (a, b) if a >= b else (b, a)
    if lo and not hi % lo:
        return a + b, hi - lo, a * b, hi // lo
    return a + b, hi - lo, a * b


def _reach2(a: int, b: int, target: int) -> bool:
    # a / b == target exactly  <=>  a == target * b (b != 0); the target is never negative.
    return (
        a + b == target
        or a * b == target
        or a - b == target
        or b - a == target
        or (b != 0 and a == target * b)
        or (a != 0 and b == target * a)
    )


def _reach3(a: int, b: int, c: int, target: int) -> bool:
    # Unrolled rather than recursive: the oracle scores every node, so this is the search's hot path.
    for x, y, z in ((a, b, c), (a, c, b), (b, c, a)):
        hi, lo = (x, y) if x >= y else (y, x)
        if (
            _reach2(x + y, z, target)
            or _reach2(hi - lo, z, target)
            or _reach2(x * y, z, target)
            or (lo != 0 and hi % lo == 0 and _reach2(hi // lo, z, target))
        ):
            return True
    return False


@lru_cache(maxsize=2**20)
def _reachable(nums: tuple[int, ...], target: int) -> bool:
    """Four or more numbers, sorted: try every pair and operation, memoized."""
    n = len(nums)
    for i in range(n):
        for j in range(i + 1, n):
            rest = nums[:i] + nums[i + 1 : j] + nums[j + 1 :]
            for r in _results(nums[i], nums[j]):
                if reachable((*rest, r), target):
                    return True
    return False
