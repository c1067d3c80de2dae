"""A set of problem ids held compactly: numbered ids ("countdown-000123") as one bitmap per prefix, others as str."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, MutableSet

# An id that ends in a number after a separator (or is a number): "gsm8k-test-17", "MATH/algebra/0042", "123". The
# separator keeps hex and UUID tails ("...-9f3e1c48") out: each would be a bitmap of its own, larger than its str.
_NUMBERED = re.compile(r"(|.*[^0-9A-Za-z])([0-9]+)")
_LARGEST = 1 << 24  # numbers from here on are held as str: a bitmap of a prefix stays under 2 MB


class ProblemIds(MutableSet[str]):
    """A set of str that holds 100,000 numbered ids in a few kB instead of about 12 MB (a run's finished problems,
    kept for the whole run). Each id keeps its exact spelling: "x-7" and "x-07" are different ids."""

    def __init__(self, ids: Iterable[str] = ()):
        self._bits: dict[tuple[str, int], bytearray] = {}  # (prefix, digits) -> bit n set when prefix + n is in
        self._other: set[str] = set()
        for problem_id in ids:
            self.add(problem_id)

    def __contains__(self, problem_id: object) -> bool:
        if not isinstance(problem_id, str):
            return False
        slot = _slot(problem_id)
        if slot is None:
            return problem_id in self._other
        key, n = slot
        bits = self._bits.get(key)
        return bits is not None and n >> 3 < len(bits) and bool(bits[n >> 3] & (1 << (n & 7)))

    def add(self, problem_id: str) -> None:
        slot = _slot(problem_id)
        if slot is None:
            self._other.add(problem_id)
            return
        key, n = slot
        bits = self._bits.setdefault(key, bytearray())
        if n >> 3 >= len(bits):
            bits.extend(bytes((n >> 3) + 1 - len(bits)))
        bits[n >> 3] |= 1 << (n & 7)

    def discard(self, problem_id: str) -> None:
        slot = _slot(problem_id)
        if slot is None:
            self._other.discard(problem_id)
            return
        key, n = slot
        bits = self._bits.get(key)
        if bits is not None and n >> 3 < len(bits):
            bits[n >> 3] &= ~(1 << (n & 7)) & 0xFF

    def __len__(self) -> int:
        return len(self._other) + sum(int.from_bytes(bits, "little").bit_count() for bits in self._bits.values())

    def __iter__(self) -> Iterator[str]:
        yield from self._other
        for (prefix, digits), bits in self._bits.items():
            for i, byte in enumerate(bits):
                if byte:
                    yield from (f"{prefix}{8 * i + b:0{digits}d}" for b in range(8) if byte >> b & 1)

    def copy(self) -> ProblemIds:
        twin = ProblemIds()
        twin._bits = {key: bytearray(bits) for key, bits in self._bits.items()}
        twin._other = set(self._other)
        return twin

    def __repr__(self) -> str:
        return f"ProblemIds({len(self)} ids)"


def _slot(problem_id: str) -> tuple[tuple[str, int], int] | None:
    """(prefix, number of digits) and the number of a numbered id; None for any other id."""
    match = _NUMBERED.fullmatch(problem_id)
    if match is None:
        return None
    prefix, digits = match.groups()
    n = int(digits)
    return ((prefix, len(digits)), n) if n < _LARGEST else None
