"""Per-problem and per-node seeds derived from (run seed, problem id), never from batch order."""

from __future__ import annotations

import hashlib

_MASK = (1 << 64) - 1


def problem_seed(run_seed: int, problem_id: str) -> int:
    digest = hashlib.blake2b(f"{run_seed}:{problem_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def mix(seed: int, *values: int) -> int:
    """SplitMix64 over the values: a fast, well-spread 64-bit seed for (problem seed, node id, ...)."""
    x = seed & _MASK
    for v in values:
        x = (x + 0x9E3779B97F4A7C15 + v) & _MASK
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
        x ^= x >> 31
    return x


def uniform(seed: int, *values: int) -> float:
    """A number in [0, 1) determined by the seed and the values."""
    return (mix(seed, *values) >> 11) * (1.0 / (1 << 53))
