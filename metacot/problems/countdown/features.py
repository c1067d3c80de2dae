"""What a Countdown problem's numbers and target offer a behaviour: its features, each a tag and a sentence."""

from __future__ import annotations

from itertools import combinations

SUBGOAL_GAP = 0.1  # a product of two numbers within this share of the target (or 10) is a subgoal near it


def _pair_results(a: int, b: int) -> list[tuple[str, int]]:
    """The whole, positive results of one operation on a and b, with the operation as written."""
    big, small = max(a, b), min(a, b)
    found = [(f"{a} + {b}", a + b), (f"{big} - {small}", big - small), (f"{a} * {b}", a * b)]
    if small and big % small == 0:
        found.append((f"{big} / {small}", big // small))
    return [(text, value) for text, value in found if value > 0]


def _factorisation(numbers: tuple[int, ...], target: int) -> str | None:
    """How a divisor of the target comes from the numbers: one of them, else one operation on two."""
    for n in numbers:
        if 1 < n < target and target % n == 0:
            return f"The target {target} = {n} * {target // n}, and {n} is among the numbers."
    for a, b in combinations(numbers, 2):
        for text, value in _pair_results(a, b):
            if 1 < value < target and target % value == 0:
                return f"The target {target} = {value} * {target // value}, and {text} = {value}."
    return None


def _subgoal(numbers: tuple[int, ...], target: int) -> str | None:
    """A product of two numbers near the target, the nearest."""
    gap = max(10, SUBGOAL_GAP * target)
    near = min(combinations(numbers, 2), key=lambda pair: abs(pair[0] * pair[1] - target), default=None)
    if near is None or abs(near[0] * near[1] - target) > gap:
        return None
    product = near[0] * near[1]
    return f"{near[0]} * {near[1]} = {product} is {abs(product - target)} from the target {target}: a subgoal near it."


def _wasted(numbers: tuple[int, ...], target: int) -> str | None:
    repeated = sorted({n for n in numbers if numbers.count(n) > 1 and n})
    if repeated:
        n = repeated[0]
        return f"{n} appears twice: {n} - {n} = 0 and {n} / {n} = 1 would waste two numbers."
    if 1 in numbers and target != 1:
        return "1 is among the numbers: multiplying or dividing by it wastes a step."
    return None


def countdown_features(numbers: tuple[int, ...], target: int) -> dict[str, str]:
    """The problem's features, tag -> a sentence on its own numbers: `endgame` (every problem: its last step makes
    the target from two numbers), `factorisation` (a divisor of the target among the numbers or one operation
    away), `subgoal` (a product of two numbers near the target), `large-number` (the largest number within a factor
    of two of the target: it can make the last jump), `wasted-numbers` (a repeated number, or a 1) and `overshoot`
    (the two largest multiply far past the target)."""
    largest = sorted(numbers)[-2:]
    found = {
        "endgame": f"The last step makes {target} from the last two numbers." if len(numbers) > 1 else None,
        "factorisation": _factorisation(numbers, target),
        "subgoal": _subgoal(numbers, target),
        "large-number": (
            f"The largest number {largest[-1]} is within a factor of two of the target {target}: keep it for last."
            if target / 2 <= largest[-1] <= 2 * target
            else None
        ),
        "wasted-numbers": _wasted(numbers, target),
        "overshoot": (
            f"{largest[0]} * {largest[1]} = {largest[0] * largest[1]} is far above the target {target}."
            if len(largest) == 2 and largest[0] * largest[1] > 2 * target + 10
            else None
        ),
    }
    return {tag: sentence for tag, sentence in found.items() if sentence is not None}
