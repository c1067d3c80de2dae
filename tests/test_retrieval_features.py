"""Retrieval by a problem's features: what its numbers and target offer picks its behaviours, so problems differ."""

from __future__ import annotations

import pytest

from metacot.behaviors.handbook.bci import condition
from metacot.behaviors.handbook.entries import Entry
from metacot.behaviors.handbook.retrieval import RetrievalError, by_features, off_mode_share
from metacot.conditioning import BehaviorsConfig
from metacot.problems.countdown import CountdownDomain, generate_problems
from metacot.problems.countdown.features import countdown_features


def test_a_problems_features_are_read_off_its_numbers_and_target():
    found = countdown_features((7, 13, 2, 5), 91)
    assert found["factorisation"] == "The target 91 = 7 * 13, and 7 is among the numbers."
    assert found["subgoal"].startswith("7 * 13 = 91 is 0 from the target 91")
    assert "wasted-numbers" not in found and "endgame" in found
    paired = countdown_features((38, 24, 25, 23), 14)
    assert paired["factorisation"] == "The target 14 = 2 * 7, and 25 - 23 = 2."
    assert "1 is among the numbers" in countdown_features((1, 50, 60, 70), 14)["wasted-numbers"]
    assert "24 appears twice" in countdown_features((38, 24, 25, 24), 14)["wasted-numbers"]
    assert "factorisation" not in countdown_features((4, 6), 13)  # 13 is prime


ENTRIES = [
    Entry("always", "a", ["countdown", "endgame"]),
    Entry("general", "b", ["countdown"], count=5),
    Entry("factor", "c", ["countdown", "factorisation"]),
    Entry("near", "d", ["countdown", "subgoal"]),
]


def test_behaviours_tagged_with_more_of_a_problems_features_come_first_then_its_topic():
    names = lambda found: [e.name for e in found]  # noqa: E731
    assert names(by_features(ENTRIES, {"endgame", "factorisation"}, "countdown", 3)) == ["always", "factor", "general"]
    assert names(by_features(ENTRIES, {"endgame", "subgoal"}, "countdown", 3)) == ["always", "near", "general"]
    assert names(by_features(ENTRIES, set(), "countdown", 2)) == ["general", "always"]  # as by topic
    assert names(by_features(ENTRIES, {"subgoal"}, "math", 3)) == ["near"]
    with pytest.raises(RetrievalError, match="no behaviour is tagged 'math'"):
        by_features(ENTRIES, set(), "math", 3)


def retrieved(mode: str, problems: list) -> list[list[str]]:
    made = condition(CountdownDomain(), problems, BehaviorsConfig(handbook="builtin", retrieve=mode))
    return [list(made[p.id].behaviors) for p in problems]


def test_the_builtin_handbook_gives_different_problems_different_behaviours_by_their_features():
    problems = generate_problems(150, 0)
    by_features_rows, by_topic_rows = retrieved("features", problems), retrieved("topic", problems)
    assert off_mode_share(by_topic_rows) == 0.0  # the topic is the domain's: the same three for all
    assert off_mode_share(by_features_rows) > 0.5
    domain = CountdownDomain()
    for problem, row in zip(problems, by_features_rows, strict=True):
        tags = set(domain.features(problem))
        assert ("target_factorisation" in row) >= ("factorisation" in tags)
        assert ("near_target_subgoal" in row) <= ("subgoal" in tags)


def test_embedding_queries_carry_the_problems_features():
    pytest.importorskip("sklearn")
    assert off_mode_share(retrieved("embedding", generate_problems(60, 0))) > 0.0


def test_off_mode_share():
    assert off_mode_share([["a", "b"], ["b", "a"], ["a"], ["c"]]) == 0.5
    assert off_mode_share([]) == 0.0
