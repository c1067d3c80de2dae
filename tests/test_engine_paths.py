"""The engine's fast paths give what the plain definitions give: the exact oracle on any state, generation."""

from __future__ import annotations

import gc
import itertools
import random
from dataclasses import fields
from fractions import Fraction

import pytest
from test_countdown import brute_force_values

from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.config import OracleConfig
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems.countdown import CountdownDomain, generate_problems, oracle, reachable
from metacot.problems.countdown.parse import to_number
from metacot.search import MCTSConfig, Runner, make_search
from metacot.search.runner import YOUNG_THRESHOLD
from metacot.tree import _WRITTEN_WHEN_SET, Node
from metacot.tree import _node_dict as node_record


def random_number(rng: random.Random):
    """A state's number as the domain writes it: mostly whole, some negative, some fractions ("8/3")."""
    kind = rng.random()
    if kind < 0.6:
        return rng.randint(0, 15)
    if kind < 0.75:
        return rng.randint(-9, 9)
    return to_number(Fraction(rng.randint(-12, 12), rng.randint(1, 6)))


@pytest.mark.parametrize("size", [2, 3, 4])
def test_the_exact_oracle_matches_brute_force_on_states_with_fractions_and_negatives(size):
    rng = random.Random(size)
    for _ in range(120 if size < 4 else 25):
        state = tuple(random_number(rng) for _ in range(size))
        values = brute_force_values(list(state), rational=True)
        whole = sorted(int(v) for v in values if v.denominator == 1 and v >= 0)
        for target in [*rng.sample(range(40), 4), *rng.sample(whole, min(3, len(whole)))]:
            assert reachable(state, target) == (target in values), (state, target)


def test_the_collector_runs_less_often_while_runners_run_and_as_before_once_none_does():
    before = gc.get_threshold()
    first, second = (
        Runner(
            CountdownDomain(),
            SymbolicCountdownPolicy(),
            CountdownOraclePRM(),
            make_search("mcts", MCTSConfig()),
            "mcts",
        ).run(generate_problems(2, seed))
        for seed in (0, 1)
    )
    next(first)
    assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    next(second)  # overlapping runs that end in another order than they started
    list(first)
    assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    list(second)
    assert gc.get_threshold() == before


def test_the_generators_check_of_four_whole_numbers_answers_as_the_general_search():
    rng = random.Random(5)
    for _ in range(3000):
        high = rng.choice((3, 12, 99))
        numbers = tuple(rng.randint(0, high) for _ in range(4))
        target = rng.choice((0, 1, 2, rng.randint(0, 40), rng.randint(10, 100)))
        general = oracle._reachable_sos.__wrapped__(tuple(sorted(numbers)), target)
        assert reachable(numbers, target, "sos") == general, (numbers, target)


def test_the_oracles_check_of_three_whole_numbers_answers_as_the_general_search():
    rng = random.Random(3)
    small = list(itertools.product(range(-4, 7), repeat=3))
    drawn = [tuple(rng.randint(-120, 300) for _ in range(3)) for _ in range(3000)]
    for numbers in [*small, *drawn]:
        for target in (0, 1, 24, rng.randint(0, 1000)):
            general = oracle._reach3_ratios(*((n, 1) for n in numbers), target)
            assert reachable(numbers, target) == general, (numbers, target)


@pytest.mark.parametrize("newer", [False, True])
def test_a_node_record_holds_every_field_in_order_and_the_newer_ones_only_when_set(newer):
    values = {f.name: f"value of {f.name}" for f in fields(Node)}
    if not newer:
        values.update(_WRITTEN_WHEN_SET)
    record = node_record(Node(**values))
    written = [name for name in values if name not in _WRITTEN_WHEN_SET or newer]
    assert list(record) == written
    assert record == {name: values[name] for name in written}


class _SeedRecorder(CountdownOraclePRM):
    """The oracle, recording the seed of every request it scores."""

    def __init__(self, config: OracleConfig) -> None:
        super().__init__(config)
        self.seeds: list[int] = []

    def score(self, requests):
        self.seeds += [r.seed for r in requests]
        return super().score(requests)


@pytest.mark.parametrize("noisy", [False, True])
def test_the_runner_derives_score_seeds_only_for_a_prm_that_reads_them(noisy):
    prm = _SeedRecorder(OracleConfig(flip_prob=0.2 if noisy else 0.0))
    assert prm.reads_seed is noisy
    search = make_search("mcts", MCTSConfig(simulations=5))
    list(Runner(CountdownDomain(), SymbolicCountdownPolicy(), prm, search, "mcts").run(generate_problems(2, 0)))
    assert len(prm.seeds) > 10
    if noisy:  # every node its own noise
        assert len(set(prm.seeds)) == len(prm.seeds)
    else:
        assert set(prm.seeds) == {0}
