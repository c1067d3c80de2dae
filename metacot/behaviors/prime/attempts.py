"""Priming traces: a tree's finished paths tried one after another, written with chosen habits; every habit counted.

A priming trace goes through a few wrong finished paths of the search tree (in the order the search created them)
and then the path it answers with: the solution, or for a wrong-answer variant the wrong path closest to the
target. Moving from one finished path to the next is a backtrack to the deepest node they share. Each sentence is
true of the tree and of exact arithmetic: a verdict is the domain's check of a finished path, a subgoal or backward
chain is stated only when the oracle confirms it (plans.py).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from metacot.behaviors.definitions import BACKTRACKING, BACKWARD_CHAINING, SUBGOAL_SETTING, VERIFICATION
from metacot.behaviors.prime.plans import chains, subgoals
from metacot.linearize.reasons import GO_BACK_WORDS
from metacot.linearize.walk import Move, count_backtracks, trace_to_solution, walk
from metacot.problems.base import Domain
from metacot.problems.countdown.parse import exact
from metacot.seeding import mix
from metacot.tree import ROOT, SearchTree


@dataclass
class PrimingTrace:
    """The lines of a think block and how many of each habit they show."""

    lines: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    moves: list[Move] = field(default_factory=list)

    def say(self, text: str, habit: str | None = None) -> None:
        self.lines.append(text)
        if habit is not None:
            self.counts[habit] += 1

    @property
    def backtracks(self) -> int:
        return count_backtracks(self.moves)


def finished_paths(tree: SearchTree) -> tuple[list[int], list[int]]:
    """The wrong and the correct finished paths (terminal nodes) with no illegal step and no wrong result taken at
    face value on the way, in creation order."""
    wrong: list[int] = []
    right: list[int] = []
    for node in tree.nodes:
        if node.terminal and node.error is None and tree.first_slip(node.id) is None:
            (right if node.correct else wrong).append(node.id)
    return wrong, right


def answer_path(tree: SearchTree) -> int | None:
    """The solution a trace record of the tree answers with, when no mistake lies on its path."""
    _, solution = trace_to_solution(tree, stop_at_first_solution=True)
    _, right = finished_paths(tree)
    return solution if solution in right else (right[0] if right else None)


def choose_attempts(
    tree: SearchTree, rng: random.Random, max_wrong: int, wrong_answer: bool, distance: Any
) -> list[int] | None:
    """Finished paths to go through, the last one answered: 1..max_wrong wrong ones in creation order, then the
    solution, or (wrong_answer) then the wrong path closest to the target by `distance`. None: the tree has too few.
    """
    wrong, _ = finished_paths(tree)
    if wrong_answer:
        if len(wrong) < 2:
            return None
        picked = sorted(rng.sample(wrong, rng.randint(2, min(max_wrong + 1, len(wrong)))))
        last = min(picked, key=lambda node_id: (distance(node_id), node_id))
        return [*(node_id for node_id in picked if node_id != last), last]
    solution = answer_path(tree)
    if solution is None or not wrong:
        return None
    return [*sorted(rng.sample(wrong, rng.randint(1, min(max_wrong, len(wrong))))), solution]


def render(
    tree: SearchTree, domain: Domain, problem: Any, habits: frozenset[str], attempts: list[int], seed: int
) -> PrimingTrace:
    """The think block's lines for going through `attempts` (see choose_attempts), showing `habits`."""
    trace = PrimingTrace(moves=walk(tree, attempts))
    plan(trace, tree, domain, problem, habits, ROOT, seed, trace.moves[0] if trace.moves else None)
    for i, move in enumerate(trace.moves):
        node = tree.nodes[move.node]
        if move.kind == "backtrack":
            words = GO_BACK_WORDS[mix(seed, node.id, i) % len(GO_BACK_WORDS)]
            trace.say(words.format(state=domain.describe_state(problem, node.state)), BACKTRACKING)
            ahead = trace.moves[i + 1] if i + 1 < len(trace.moves) else None
            plan(trace, tree, domain, problem, habits, node.id, seed, ahead)
            continue
        step = node.step.strip().rstrip(".")
        if node.terminal and VERIFICATION in habits:
            trace.say(f"{step}. {domain.verdict(problem, node.state, bool(node.correct))}", VERIFICATION)
        elif node.terminal:
            trace.say(f"{step}.")
        else:
            note = domain.step_note(problem, node.state)
            trace.say(f"{step}. {note}" if note else f"{step}.")
    return trace


def plan(
    trace: PrimingTrace,
    tree: SearchTree,
    domain: Domain,
    problem: Any,
    habits: frozenset[str],
    node_id: int,
    seed: int,
    ahead: Move | None,
) -> None:
    """Before going on from a node: a backward chain from the target and a subgoal, where the habits ask for them
    and the node's numbers allow a true one. The subgoal the next step makes is preferred."""
    if not habits & {BACKWARD_CHAINING, SUBGOAL_SETTING}:
        return
    state = tuple(tree.nodes[node_id].state)
    if BACKWARD_CHAINING in habits and (found := chains(state, problem.target)):
        trace.say(found[mix(seed, node_id, 1) % len(found)].sentence(problem.target), BACKWARD_CHAINING)
    if SUBGOAL_SETTING in habits and (goals := subgoals(state, problem.target)):
        made = domain.state_key(tree.nodes[ahead.node].state) if ahead is not None and ahead.kind == "step" else None
        matching = [g for g in goals if domain.state_key((*g.rest, g.value)) == made]
        chosen = matching[0] if matching else goals[mix(seed, node_id, 2) % len(goals)]
        trace.say(chosen.sentence(problem.target), SUBGOAL_SETTING)


def countdown_distance(tree: SearchTree, problem: Any) -> Any:
    """How far a Countdown finished path's number is from the target."""
    return lambda node_id: abs(exact(tree.nodes[node_id].state[0]) - problem.target)
