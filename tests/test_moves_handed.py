"""The symbolic policy hands the domain its moves: the outcome is the one the domain reads from the step's text."""

from __future__ import annotations

import random

import pytest

from metacot.policy.base import ExpandRequest
from metacot.policy.config import SymbolicPolicyConfig
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.problems.countdown import CountdownDomain, CountdownProblem, format_move, legal_moves
from metacot.problems.countdown.parse import claimed_move
from metacot.tree import SearchTree

STATES = [(25, 19, 4, 7), (3, 3, 8, 8), (6, 0, 6), (12, 5), (100, 4, 4), ("8/3", 8, 3), (-5, 9, 2), (7, "-1/3", 2)]


def _outcomes(domain: CountdownDomain, problem: CountdownProblem, state: tuple, move: tuple) -> tuple:
    text = format_move(move)
    return domain.apply_move(problem, state, text, move), domain.apply_step(problem, state, text)


@pytest.mark.parametrize("notice", ["immediate", "when-found"])
@pytest.mark.parametrize("moves", ["sos", "all"])
def test_a_handed_move_has_the_outcome_of_its_text(notice, moves):
    domain = CountdownDomain(notice=notice)
    problem = CountdownProblem(id="p", numbers=(25, 19, 4, 7), target=6)
    policy = SymbolicCountdownPolicy(SymbolicPolicyConfig(moves=moves))
    rng = random.Random(0)
    compared, without_text = 0, 0
    for state in STATES:
        for move in legal_moves(state, moves):
            slipped = policy._slip(move, rng)
            foreign = (move[0], move[1], 1000, move[3])  # a number the state does not have
            for m in (move, slipped, foreign):
                handed, read = _outcomes(domain, problem, state, m)
                assert handed == read, (state, m)
                compared += 1
                without_text += claimed_move(state, m) is not None
    assert compared > 200 and without_text > 100  # most moves are applied without their text, the rest read it


def test_a_terminal_move_is_checked_against_the_target():
    domain = CountdownDomain()
    problem = CountdownProblem(id="p", numbers=(2, 3), target=6)
    handed, read = _outcomes(domain, problem, (2, 3), (2, "*", 3, 6))
    assert handed == read and handed.terminal and handed.correct
    handed, read = _outcomes(domain, problem, (2, 3), (2, "+", 3, 5))
    assert handed == read and handed.terminal and handed.correct is False


@pytest.mark.parametrize("mistake_rate", [0.0, 0.5])
def test_proposals_carry_the_move_their_text_was_written_from(mistake_rate):
    policy = SymbolicCountdownPolicy(SymbolicPolicyConfig(mistake_rate=mistake_rate))
    domain = CountdownDomain()
    problem = CountdownProblem(id="p", numbers=(25, 19, 4, 7), target=6)
    tree = SearchTree.with_root("p", domain.problem_to_dict(problem), domain.root_state(problem))
    request = ExpandRequest(problem=problem, tree=tree, node=tree.root, n=8, seed=3)
    (proposals,) = policy.propose([request])
    assert len(proposals) == 8
    assert all(p.text == format_move(p.move) and p.tokens == len(p.text.split()) for p in proposals)
    assert [p.text for p in policy.propose([request])[0]] == [p.text for p in proposals]  # seeded per request
