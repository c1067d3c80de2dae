"""A set of problem ids held compactly: numbered ids ("countdown-000123") as paged bitmaps per prefix, others as str."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, MutableSet

# An id that ends in a number after a separator (or is a number): "gsm8k-test-17", "MATH/algebra/0042", "123". The
# separator keeps hex and UUID tails ("...-9f3e1c48") out: each would be a bitmap of its own, larger than its str.
# Up to 18 digits: longer numbers are held as str (int() of a very long digit string is slow, or refused).
_NUMBERED = re.compile(r"(|.*[^0-9A-Za-z])([0-9]{1,18})")
_PAGE_BITS = 13  # a page holds 8,192 numbers in 1 kB: a lone large number costs one page, not a bitmap up to it
_PAGE_BYTES = 1 << (_PAGE_BITS - 3)
_Key = tuple[str, int]  # (prefix, number of digits)


class ProblemIds(MutableSet[str]):
    """A set of str that holds 100,000 numbered ids in a few kB instead of about 12 MB (a run's finished problems,
    kept for the whole run). Each id keeps its exact spelling: "x-7" and "x-07" are different ids. Time and space
    follow the pages in use, so one id with a large number ("15017502") is as cheap as a small one."""

    def __init__(self, ids: Iterable[str] = ()):
        self._pages: dict[_Key, dict[int, bytearray]] = {}  # key -> page number -> bit i set when page * 8192 + i in
        self._other: set[str] = set()
        for problem_id in ids:
            self.add(problem_id)

    def __contains__(self, problem_id: object) -> bool:
        if not isinstance(problem_id, str):
            return False
        slot = _slot(problem_id)
        if slot is None:
            return problem_id in self._other
        key, page, byte, bit = slot
        bits = self._pages.get(key, {}).get(page)
        return bits is not None and bool(bits[byte] & bit)

    def add(self, problem_id: str) -> None:
        slot = _slot(problem_id)
        if slot is None:
            self._other.add(problem_id)
            return
        key, page, byte, bit = slot
        pages = self._pages.setdefault(key, {})
        bits = pages.get(page)
        if bits is None:
            bits = pages[page] = bytearray(_PAGE_BYTES)
        bits[byte] |= bit

    def discard(self, problem_id: str) -> None:
        slot = _slot(problem_id)
        if slot is None:
            self._other.discard(problem_id)
            return
        key, page, byte, bit = slot
        pages = self._pages.get(key, {})
        bits = pages.get(page)
        if bits is not None and bits[byte] & bit:
            bits[byte] &= ~bit & 0xFF
            if not any(bits):
                del pages[page]  # an emptied page goes, so iteration never walks pages with nothing in them

    def __len__(self) -> int:
        pages = (bits for key_pages in self._pages.values() for bits in key_pages.values())
        return len(self._other) + sum(int.from_bytes(bits, "little").bit_count() for bits in pages)

    def __iter__(self) -> Iterator[str]:
        yield from self._other
        for (prefix, digits), pages in self._pages.items():
            for page, bits in pages.items():
                first = page << _PAGE_BITS
                for i, byte in enumerate(bits):
                    if byte:
                        yield from (f"{prefix}{first + 8 * i + b:0{digits}d}" for b in range(8) if byte >> b & 1)

    def copy(self) -> ProblemIds:
        twin = ProblemIds()
        twin._pages = {key: {n: bytearray(bits) for n, bits in pages.items()} for key, pages in self._pages.items()}
        twin._other = set(self._other)
        return twin

    def __repr__(self) -> str:
        return f"ProblemIds({len(self)} ids)"


def _slot(problem_id: str) -> tuple[_Key, int, int, int] | None:
    """Where a numbered id's bit lies: (prefix, number of digits), page, byte in the page, bit mask; None for any
    other id."""
    match = _NUMBERED.fullmatch(problem_id)
    if match is None:
        return None
    prefix, digits = match.groups()
    n = int(digits)
    return (prefix, len(digits)), n >> _PAGE_BITS, (n >> 3) & (_PAGE_BYTES - 1), 1 << (n & 7)
