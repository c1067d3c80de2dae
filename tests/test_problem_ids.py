"""ProblemIds behaves as a set of str for any ids, and holds numbered ids in bitmaps."""

from __future__ import annotations

import sys

from hypothesis import given
from hypothesis import strategies as st

from metacot.outputs.ids import ProblemIds

NUMBERED = st.builds(
    lambda prefix, n, pad: f"{prefix}{n:0{pad}d}",
    st.sampled_from(["", "p-", "gsm8k-test-", "MATH/algebra/", "a_b.", "x"]),
    st.one_of(st.integers(0, 1 << 26), st.integers(0, 10**20)),  # past 18 digits an id is held as str
    st.integers(0, 6),
)
IDS = st.one_of(NUMBERED, st.text(max_size=12))
OPS = st.lists(st.tuples(st.sampled_from(["add", "discard"]), IDS), max_size=60)


@given(OPS)
def test_it_agrees_with_a_set_after_any_adds_and_discards(ops: list[tuple[str, str]]) -> None:
    ids, expected = ProblemIds(), set()
    for op, problem_id in ops:
        getattr(ids, op)(problem_id)
        getattr(expected, op)(problem_id)
    assert len(ids) == len(expected)
    assert sorted(ids) == sorted(expected)  # each id comes back with its exact spelling, once
    assert all(problem_id in ids for problem_id in expected)
    assert ids == expected and ids.copy() == expected


def test_padding_makes_different_ids() -> None:
    ids = ProblemIds(["x-7", "x-007", "7"])
    assert "x-07" not in ids and "07" not in ids and "x7" not in ids
    assert {"x-7", "x-007", "7"} == ids
    ids.discard("x-007")
    assert "x-7" in ids and "x-007" not in ids and len(ids) == 2


def test_set_operations_the_run_directory_uses() -> None:
    done, failed = ProblemIds(["p-1", "p-2", "q"]), ProblemIds(["p-2", "r-9"])
    assert done - failed == {"p-1", "q"}
    assert failed - done == {"r-9"}
    done |= failed
    assert done == {"p-1", "p-2", "q", "r-9"}
    done -= failed
    assert done == {"p-1", "q"}
    assert 3 not in done and None not in done


def test_numbered_ids_take_a_few_kilobytes() -> None:
    ids = ProblemIds(f"countdown-{i:06d}" for i in range(100_000))
    assert not ids._other
    held = sum(sys.getsizeof(bits) for pages in ids._pages.values() for bits in pages.values())
    assert held < 20_000  # a set of the same str holds about 12 MB
    assert "countdown-099999" in ids and "countdown-100000" not in ids


def test_a_lone_large_number_costs_one_page() -> None:
    ids = ProblemIds(["15017502", "p-99999999999"])
    assert sum(len(pages) for pages in ids._pages.values()) == 2
    assert sorted(ids) == ["15017502", "p-99999999999"] and ids == {"15017502", "p-99999999999"}
    ids.discard("15017502")
    assert list(ids) == ["p-99999999999"] and sum(len(pages) for pages in ids._pages.values()) == 1
