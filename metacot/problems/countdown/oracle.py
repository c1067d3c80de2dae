"""Countdown moves and the exact oracle: the moves of a state under a move set, and whether the target is reachable.

Two move sets: "sos" (stream of search: non-negative whole results, larger operand first for '-' and '/') and
"all" (every exact result: a - b and b - a, a / b and b / a when the divisor is not 0, fractions and negatives).
The oracle's default is "all": the rules the verifier applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from functools import lru_cache
from math import gcd

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
    whole = [n for n in state if isinstance(n, int)]
    if moves == "sos" and len(whole) == len(state):
        return _whole_moves(whole)
    values = _values(state)
    found: list[Move] = []
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            for a, op, b, result in _results(values[i], values[j], moves):
                found.append((_number(a), op, _number(b), _number(result)))
    return found


# Stream of Search's generator (Gandhi et al. 2024, countdown_utils.combine_nums) lists a pair's operations so
SOS_OPERATION_ORDER = "+*-/"


def sos_listing(state: tuple[Number, ...] | list[Number]) -> list[Move]:
    """The "sos" moves in the order Stream of Search's generator lists them: each pair of positions i < j in turn,
    a + b, a * b, larger - smaller, larger / smaller when whole; a move equal numbers repeat is listed once."""
    found: list[Move] = []
    for i, a in enumerate(state):
        for b in state[i + 1 :]:
            found += sorted(legal_moves((a, b), "sos"), key=lambda move: SOS_OPERATION_ORDER.index(move[1]))
    return list(dict.fromkeys(found))


def _whole_moves(state: list[int]) -> list[Move]:
    """legal_moves under "sos" for a state of ints, in the same order, without the general path's conversions."""
    return [move for i, a in enumerate(state) for b in state[i + 1 :] for move in _whole_pair(a, b)]


def _whole_pair(a: int, b: int) -> list[tuple[int, str, int, int]]:
    """The stream-of-search moves of two whole numbers: a + b, the larger minus the smaller, a * b, and the larger
    divided by the smaller when that is whole; results below 0 left out."""
    hi, lo = (a, b) if a >= b else (b, a)
    pair = [(a, "+", b, a + b), (hi, "-", lo, hi - lo), (a, "*", b, a * b)]
    if lo and not hi % lo:
        pair.append((hi, "/", lo, hi // lo))
    return [m for m in pair if m[3] >= 0]


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
    if moves == "all":
        if len(values) == 3:  # the common question (a state one step below a Countdown-4 problem): not memoized
            a, b, c = values
            if type(a) is int and type(b) is int and type(c) is int:
                return _reach3_whole(a, b, c, target)
            return _reach3_ratios(_ratio(a), _ratio(b), _ratio(c), target)
        return _reachable_ratios(tuple(sorted(_ratio(v) for v in values)), (target, 1))
    whole = [v for v in values if type(v) is int and v >= 0]
    if len(whole) == len(values) == 4:  # a drawn Countdown-4 problem
        return _reach4_whole(whole[0], whole[1], whole[2], whole[3], target)
    # the question itself is not memoized: drawn problems (generation asks about every draw) do not repeat
    return _reachable_sos.__wrapped__(tuple(sorted(values)), target)


# Entries each memo of the oracle keeps (least recently used ones dropped): about 300 bytes an entry, so at most
# ~10 MB each. A long run asks about millions of distinct states; at 2**20 entries (~300 MB) memory grew with the
# number of problems. A Countdown-4 run does not use them: the oracle PRM's questions (three values or fewer) and
# the generator's (four whole numbers) are cheaper to answer than to look up; the searches of larger states keep
# the states below them here (their transpositions repeat).
CACHE_SIZE = 2**15

# The "all" search below runs on exact rationals as (numerator, denominator > 0) pairs in lowest terms: the same
# values as Fraction, several times faster, which the oracle PRM needs (it is asked about every scored node).
Ratio = tuple[int, int]


def _ratio(value: Exact) -> Ratio:
    return (value, 1) if type(value) is int else (value.numerator, value.denominator)


def _lowest(n: int, d: int) -> Ratio:
    if d < 0:
        n, d = -n, -d
    g = gcd(n, d)
    return (n // g, d // g) if g > 1 else (n, d)


def _ratio_results(a: Ratio, b: Ratio) -> list[Ratio]:
    """a + b, a - b, b - a, a * b, a / b, b / a (divisions by zero left out)."""
    (an, ad), (bn, bd) = a, b
    cross_a, cross_b, d = an * bd, bn * ad, ad * bd
    found = [_lowest(cross_a + cross_b, d), _lowest(cross_a - cross_b, d), _lowest(cross_b - cross_a, d)]
    found.append(_lowest(an * bn, d))
    if bn:
        found.append(_lowest(cross_a, cross_b))
    if an:
        found.append(_lowest(cross_b, cross_a))
    return found


@lru_cache(maxsize=CACHE_SIZE)
def _reachable_ratios(values: tuple[Ratio, ...], target: Ratio) -> bool:
    """Three or more values, sorted: try every pair and result, memoized (the last two steps are tried directly,
    which is cheaper than looking them up)."""
    if len(values) == 3:
        return _reach3_ratios(values[0], values[1], values[2], target[0])
    n = len(values)
    for i in range(n):
        for j in range(i + 1, n):
            rest = values[:i] + values[i + 1 : j] + values[j + 1 :]
            for result in _ratio_results(values[i], values[j]):
                if _reachable_ratios(tuple(sorted((*rest, result))), target):
                    return True
    return False


def _reach3_ratios(a: Ratio, b: Ratio, c: Ratio, target: int) -> bool:
    """Whether two steps on three values can give the whole target: each pair's six results (as unreduced
    fractions, denominators not 0) against the value left, compared by cross-multiplying (no gcd)."""
    for (xn, xd), (yn, yd), z in ((a, b, c), (a, c, b), (b, c, a)):
        cross_x, cross_y, d = xn * yd, yn * xd, xd * yd
        if (
            _reach2_ratio(cross_x + cross_y, d, z, target)
            or _reach2_ratio(cross_x - cross_y, d, z, target)
            or _reach2_ratio(cross_y - cross_x, d, z, target)
            or _reach2_ratio(xn * yn, d, z, target)
            or (yn != 0 and _reach2_ratio(cross_x, cross_y, z, target))
            or (xn != 0 and _reach2_ratio(cross_y, cross_x, z, target))
        ):
            return True
    return False


def _reach3_whole(a: int, b: int, c: int, target: int) -> bool:
    """_reach3_ratios for three whole numbers (of any sign; the oracle PRM's common question), in a fraction of its
    time: each pair's results are looked up among the values from which one step on the number left gives the
    target (_needs)."""
    for x, y, z in ((a, b, c), (a, c, b), (b, c, a)):
        need = _needs(z, target)
        if (
            need is None
            or x + y in need
            or x - y in need
            or y - x in need
            or x * y in need
            or (y != 0 and _quotient(x, y) in need)
            or (x != 0 and _quotient(y, x) in need)
        ):
            return True
    return False


def _needs(z: int, target: int) -> set[int | Ratio] | None:
    """The values r for which one step on r and z gives the whole target (_reach2_ratio), written as _quotient
    writes them; None: every value does (z and the target are 0: r * 0)."""
    if z == 0 and target == 0:
        return None
    need: set[int | Ratio] = {target - z, target + z, z - target}  # r + z, r - z, z - r
    if z != 0:
        need.add(_quotient(target, z))  # r * z
        need.add(target * z)  # r / z
        if target != 0:
            need.add(_quotient(z, target))  # z / r (r is not 0)
    return need


def _quotient(n: int, d: int) -> int | Ratio:
    """n / d (d not 0): an int when whole, else the Ratio in lowest terms (so equal values compare equal)."""
    return n // d if n % d == 0 else _lowest(n, d)


def _reach2_ratio(an: int, ad: int, b: Ratio, target: int) -> bool:
    """Whether one step on an/ad and b gives the whole target (ad and b's denominator not 0, of any sign)."""
    bn, bd = b
    cross_a, cross_b, goal = an * bd, bn * ad, target * ad * bd
    return (
        cross_a + cross_b == goal
        or cross_a - cross_b == goal
        or cross_b - cross_a == goal
        or an * bn == goal
        or (bn != 0 and cross_a == target * cross_b)
        or (an != 0 and cross_b == target * cross_a)
    )


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


@lru_cache(maxsize=CACHE_SIZE)
def _reachable_sos(values: tuple[Exact, ...], target: int) -> bool:
    """Three or more values, sorted, under the stream-of-search moves: try every pair and result, memoized from
    four values up (three are cheaper to try than to look up)."""
    n = len(values)
    if n == 3:
        return _reach3_sos(values, target)
    for i in range(n):
        for j in range(i + 1, n):
            rest = values[:i] + values[i + 1 : j] + values[j + 1 :]
            for result in _sos_values(values[i], values[j]):
                smaller = tuple(sorted((*rest, result)))
                if _reach3_sos(smaller, target) if n == 4 else _reachable_sos(smaller, target):
                    return True
    return False


def _reach3_sos(values: tuple[Exact, ...], target: int) -> bool:
    a, b, c = values
    for x, y, rest in ((a, b, c), (a, c, b), (b, c, a)):
        for result in _sos_values(x, y):
            if _reach2(rest, result, target):
                return True
    return False


def _reach4_whole(a: int, b: int, c: int, d: int, target: int) -> bool:
    """_reachable_sos for four non-negative whole numbers (the generator asks about every draw), the same answer
    from each way to combine them: two pairs then their results, or a pair, then a third number, then the last."""
    pairs = {(x, y): _whole_results(x, y) for x, y in ((a, b), (a, c), (a, d), (b, c), (b, d), (c, d))}
    splits = (((a, b), (c, d)), ((a, c), (b, d)), ((a, d), (b, c)))
    for left, right in splits:
        for r in pairs[left]:
            for s in pairs[right]:
                if _reach2(r, s, target):
                    return True
    last = {n: _last_steps(n, target) for n in (a, b, c, d)}
    for (x, y), (p, q) in (*splits, *((right, left) for left, right in splits)):
        for r in pairs[x, y]:
            if _meets(_whole_results(r, p), last[q]) or _meets(_whole_results(r, q), last[p]):
                return True
    return False


def _whole_results(a: int, b: int) -> list[int]:
    """The stream-of-search results of two non-negative whole numbers (_sos_values without the general path)."""
    hi, lo = (a, b) if a >= b else (b, a)
    found = [a + b, hi - lo, a * b]
    if lo and not hi % lo:
        found.append(hi // lo)
    return found


def _last_steps(n: int, target: int) -> frozenset[int] | None:
    """The values v for which one step on v and n can give the whole target (_reach2(v, n, target)); None: every
    value can (n and the target are 0: v * 0)."""
    if n == 0 and target == 0:
        return None
    found = {target - n, target + n, n - target}
    if n:
        found.add(target * n)
        if not target % n:
            found.add(target // n)
    if target and n and not n % target:
        found.add(n // target)
    return frozenset(found)


def _meets(values: list[int], need: frozenset[int] | None) -> bool:
    return bool(values) if need is None else not need.isdisjoint(values)


def _sos_values(a: Exact, b: Exact) -> list[Exact]:
    """The results of one pair under the stream-of-search moves."""
    pair = _whole_pair(a, b) if type(a) is int and type(b) is int else _results(a, b, "sos")
    return [result for *_, result in pair]
