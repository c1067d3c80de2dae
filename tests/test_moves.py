"""The symbolic policy's move sets ("sos" and "all"): proposals, rollouts, config checks, and Game-of-24 searches."""

from __future__ import annotations

from fractions import Fraction

import pytest
from conftest import run_search

from metacot.config import ConfigError, from_dict
from metacot.policy.base import ExpandRequest
from metacot.policy.config import PolicyConfig, SymbolicPolicyConfig
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems.countdown import CountdownDomain, CountdownProblem, apply_step, reachable, verify_answer
from metacot.search import AStarConfig, Budget
from metacot.tree import SearchTree

GAME = CountdownProblem("g24", (3, 3, 8, 8), 24)


def request(state, n=64, seed=0) -> ExpandRequest:
    tree = SearchTree.with_root("p", {}, state)
    return ExpandRequest(problem=GAME, tree=tree, node=tree.root, seed=seed, n=n)


def results(texts: list[str]) -> list[Fraction]:
    return [Fraction(t.rsplit(" = ", 1)[1]) for t in texts]


def test_sos_moves_are_whole_and_non_negative_and_all_moves_add_the_rest():
    state = (3, 8, "8/3")
    sos = [p.text for p in SymbolicCountdownPolicy(SymbolicPolicyConfig(sample=False)).propose([request((3, 8))])[0]]
    assert sos == ["3 + 8 = 11", "8 - 3 = 5", "3 * 8 = 24"]
    proposed = SymbolicCountdownPolicy(SymbolicPolicyConfig(moves="all")).propose([request(state)])[0]
    texts = [p.text for p in proposed]
    assert "3 - 8 = -5" in texts and "8 / 3 = 8/3" in texts and "3 - (8/3) = 1/3" in texts
    assert "8 / (8/3) = 3" in texts and "3 * (8/3) = 8" in texts
    assert len(texts) == len(set(texts)) == 18  # 3 pairs x 6 exact results, each legal in the state
    for text in texts:
        apply_step(state, text)


@pytest.mark.parametrize("moves", ["sos", "all"])
def test_rollouts_use_the_move_set(moves):
    policy = SymbolicCountdownPolicy(SymbolicPolicyConfig(moves=moves))
    playouts = policy.rollout([request((3, 3, 8, 8), n=40)])[0]
    values = [v for playout in playouts for v in results(playout)]
    off_sos = [v for v in values if v < 0 or v.denominator != 1]
    assert bool(off_sos) is (moves == "all")
    for playout in playouts:
        state: tuple = (3, 3, 8, 8)
        for step in playout:
            state = apply_step(state, step)
        assert len(state) == 1


def test_the_move_set_is_checked_when_the_config_is_built():
    with pytest.raises(ValueError, match="moves: unknown move set 'every'"):
        SymbolicPolicyConfig(moves="every")
    with pytest.raises(
        ConfigError, match=r"^policy\.symbolic\.moves: unknown move set 'every'; expected one of sos, all"
    ):
        from_dict(PolicyConfig, {"symbolic": {"moves": "every"}}, "policy")
    assert from_dict(PolicyConfig, {"symbolic": {"moves": "all"}}, "policy").symbolic.moves == "all"


@pytest.mark.parametrize(("moves", "solved"), [("all", True), ("sos", False)])
def test_game_of_24_3_3_8_8_needs_fractions(moves, solved):
    assert reachable(GAME.numbers, 24) and not reachable(GAME.numbers, 24, moves="sos")
    policy = SymbolicCountdownPolicy(SymbolicPolicyConfig(moves=moves))
    config = AStarConfig(budget=Budget(nodes=400), expand_width=64)
    tree = run_search([GAME], "astar", config, policy, CountdownOraclePRM())[0][0]
    assert tree.solved is solved
    if solved:
        answer = CountdownDomain().final_answer(GAME, tree.steps_to(tree.solutions()[0].id))
        assert verify_answer(GAME, answer)


@pytest.mark.parametrize("moves", ["sos", "all"])
def test_a_narrow_last_step_proposes_the_move_that_makes_the_target(moves):
    # [3, 8] -> 24: one move of 3 ("sos") or 6 ("all") makes the target; asked for one step, the policy with the check
    # proposes it on every seed (a solver checks every combination of the last two numbers), without it not always
    def proposed(config: SymbolicPolicyConfig) -> list[list[str]]:
        policy = SymbolicCountdownPolicy(config)
        return [[p.text for p in policy.propose([request((3, 8), n=1, seed=seed)])[0]] for seed in range(20)]

    assert all(texts == ["3 * 8 = 24"] for texts in proposed(SymbolicPolicyConfig(moves=moves, last_step_check=True)))
    assert any(texts != ["3 * 8 = 24"] for texts in proposed(SymbolicPolicyConfig(moves=moves)))  # off by default
    # wide enough for every move, the sample is the same with or without the check
    def wide(config: SymbolicPolicyConfig) -> list[str]:
        return [p.text for p in SymbolicCountdownPolicy(config).propose([request((3, 8))])[0]]

    assert wide(SymbolicPolicyConfig(moves=moves, last_step_check=True)) == wide(SymbolicPolicyConfig(moves=moves))


def test_a_search_never_slips_twice_on_the_same_operation():
    """A text that names a slip and makes it again later teaches repeating a known mistake."""
    from test_search import operation_of

    from metacot.problems.countdown import generate_problems

    policy = SymbolicCountdownPolicy(SymbolicPolicyConfig(mistake_rate=0.5))
    config = AStarConfig(budget=Budget(nodes=200), expand_width=4)
    trees, _ = run_search(generate_problems(20, 7), "astar", config, policy, CountdownOraclePRM())
    slips = [[operation_of(n.step) for n in tree.nodes if n.error and " is " in n.error] for tree in trees]
    assert sum(map(len, slips)) > 20  # the policy does slip
    assert all(len(ops) == len(set(ops)) for ops in slips)
