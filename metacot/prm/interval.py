"""Wilson score intervals for Monte Carlo values: how sure k verified completions out of n make an estimate."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% by default); (0, 1) without trials."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def decisive(successes: int, n: int, below: float, above: float, z: float = Z95) -> bool:
    """Whether the interval lies entirely at or below `below` (a bad step) or at or above `above` (a good one)."""
    low, high = wilson(successes, n, z)
    return n > 0 and (high <= below or low >= above)
