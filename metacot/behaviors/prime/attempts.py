"""Priming traces: a tree's dead ends tried one after another, then the answer, written with chosen habits; every
habit counted.

A priming trace goes through a few wrong ends of the search tree (in the order the search created them) and then
the path it answers with. Where the domain lists every step from a state (Countdown), a wrong end is a dead end: a
state one step from a finish whose every step misses the target, and the trace tries each of them there; else it is
a wrong finished path. The trace never stands one step from a win it does not take: a wrong answer comes from
visible effort, never from a winning step skipped. A right-answer trace then takes the solution; a wrong-answer one
answers with the finished step closest to the target it tried. Moving on is a backtrack to the deepest node shared,
after saying the path did not work. Each sentence is true of the tree and of exact arithmetic: a verdict is the
domain's check of a finished step; subgoals and backward chains are woven from the path the trace then takes
(linearize.plans), so each is pursued by the steps after it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from metacot.behaviors.definitions import BACKTRACKING, BACKWARD_CHAINING, SUBGOAL_SETTING, VERIFICATION
from metacot.linearize.plans import Woven, weave
from metacot.linearize.reasons import GO_BACK_WORDS
from metacot.linearize.walk import Move, trace_to_solution, walk
from metacot.problems.base import Domain
from metacot.problems.countdown.parse import exact
from metacot.seeding import mix
from metacot.tree import SearchTree

# what a backtrack says it realised before going back, after a finished step the text has shown to miss
REALISED = ("That path doesn't work.", "This path is a dead end.", "That didn't work out.")


@dataclass
class PrimingTrace:
    """The lines of a think block, how many of each habit they show, and the finished steps it tried: (the steps
    from the root, the final state)."""

    lines: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    moves: list[Move] = field(default_factory=list)
    finished: list[tuple[list[str], Any]] = field(default_factory=list)
    answered: list[str] | None = None  # the steps of a wrong-answer trace's answer (closest)

    def say(self, text: str, habit: str | None = None) -> None:
        self.lines.append(text)
        if habit is not None:
            self.counts[habit] += 1

    @property
    def backtracks(self) -> int:
        return self.counts[BACKTRACKING]  # the walk's backtracks and the returns to a dead end between its steps


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


def last_steps(domain: Domain, problem: Any, state: Any) -> list[tuple[str, Any]] | None:
    """(step, final state) of every step from a state one step from a finish where none wins; None for any other
    state, or where the domain cannot list steps."""
    steps = domain.legal_steps(problem, state)
    if not steps:
        return None
    found = []
    for step in steps:
        outcome = domain.apply_step(problem, state, step)
        if not outcome.terminal or outcome.error is not None or outcome.correct:
            return None
        found.append((step, outcome.state))
    return found


def wrong_ends(tree: SearchTree, domain: Domain, problem: Any) -> list[int]:
    """The ends a trace may try and fail at, in creation order: dead ends (last_steps) on paths with no slip where
    the domain lists steps, else the wrong finished paths."""
    if domain.legal_steps(problem, tree.nodes[0].state) is None:
        return finished_paths(tree)[0]
    return [
        node.id
        for node in tree.nodes
        if not node.terminal
        and node.error is None
        and node.state is not None
        and tree.first_slip(node.id) is None
        and last_steps(domain, problem, node.state) is not None
    ]


def choose_attempts(
    tree: SearchTree, rng: random.Random, max_wrong: int, wrong_answer: bool, ends: list[int]
) -> list[int] | None:
    """Ends to go through, the last one answered for a right answer: 1..max_wrong of the wrong `ends` in creation
    order, then the solution; or (wrong_answer) 2..max_wrong + 1 of them. None: the tree has too few."""
    if wrong_answer:
        if len(ends) < 2:
            return None
        return sorted(rng.sample(ends, rng.randint(2, min(max_wrong + 1, len(ends)))))
    solution = answer_path(tree)
    if solution is None or not ends:
        return None
    return [*sorted(rng.sample(ends, rng.randint(1, min(max_wrong, len(ends))))), solution]


def render(
    tree: SearchTree, domain: Domain, problem: Any, habits: frozenset[str], attempts: list[int], seed: int
) -> PrimingTrace:
    """The think block's lines for going through `attempts` (see choose_attempts), showing `habits`."""
    trace = PrimingTrace(moves=[m for m in walk(tree, attempts) if not m.aside])  # it shows no wrong step
    woven = plans(tree, domain, problem, habits, trace.moves, attempts[-1])
    for i, move in enumerate(trace.moves):
        for habit, sentence in woven.before.get(i, []):
            trace.say(sentence, habit)
        node = tree.nodes[move.node]
        if move.kind == "backtrack":
            go_back(trace, domain, problem, node.state, mix(seed, node.id, i))
            continue
        if node.terminal:
            finish(trace, domain, problem, habits, (node.step, node.state, node.correct))
            trace.finished.append((tree.steps_to(node.id), node.state))
        else:
            step, note = node.step.strip().rstrip("."), domain.step_note(problem, node.state)
            trace.say(f"{step}. {note}" if note else f"{step}.")
        if i in woven.after:
            trace.say(woven.after[i])
        if node.id in attempts and not node.terminal:
            exhaust(trace, tree, domain, problem, habits, node.id, seed)
    return trace


def exhaust(
    trace: PrimingTrace, tree: SearchTree, domain: Domain, problem: Any, habits: frozenset[str], node_id: int, seed: int
) -> None:
    """Every step from a dead end, each a finished step, with a go-back to the dead end between them."""
    state = tree.nodes[node_id].state
    for k, (step, final) in enumerate(last_steps(domain, problem, state) or []):
        if k:
            go_back(trace, domain, problem, state, mix(seed, node_id, k))
        finish(trace, domain, problem, habits, (step, final, False))
        trace.finished.append(([*tree.steps_to(node_id), step], final))


def finish(trace: PrimingTrace, domain: Domain, problem: Any, habits: frozenset[str], done: tuple) -> None:
    """A finished step (step, final state, correct), with its verdict where the habits show verification."""
    step, final, correct = done
    step = step.strip().rstrip(".")
    if VERIFICATION in habits:
        trace.say(f"{step}. {domain.verdict(problem, final, bool(correct))}", VERIFICATION)
    else:
        trace.say(f"{step}.")


def go_back(trace: PrimingTrace, domain: Domain, problem: Any, state: Any, salt: int) -> None:
    """What the text realised about the step it just finished, and where it goes back to."""
    realised = REALISED[(salt >> 8) % len(REALISED)]
    words = GO_BACK_WORDS[salt % len(GO_BACK_WORDS)]
    trace.say(f"{realised} {words.format(state=domain.describe_state(problem, state))}", BACKTRACKING)


def plans(
    tree: SearchTree, domain: Domain, problem: Any, habits: frozenset[str], moves: list[Move], answered: int
) -> Woven:
    """The subgoals and backward chains the habits ask for, woven from the paths the trace takes (linearize.plans):
    on a trace that answers wrong, the chains its paths pursued and missed."""
    wanted = BACKWARD_CHAINING in habits, SUBGOAL_SETTING in habits
    if not domain.numbers_to_target or not any(wanted):
        return Woven()
    solution = answered if tree.nodes[answered].correct else None
    can_reach = lambda state: domain.reachable(problem, state) is True  # noqa: E731
    return weave(tree, problem.target, moves, solution, wanted, can_reach, open_chains=solution is None)


def closest(trace: PrimingTrace, domain: Domain, problem: Any) -> tuple[list[str], Any]:
    """The finished step a wrong-answer trace answers with: the closest to the target (Countdown), the last tried
    among equals."""
    if not domain.numbers_to_target:
        return trace.finished[-1]
    return min(reversed(trace.finished), key=lambda found: abs(exact(found[1][0]) - problem.target))
