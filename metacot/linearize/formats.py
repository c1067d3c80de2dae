"""Trace formats: render a tree's moves as Meta-CoT text, the Meta-CoT paper's layout, special tokens, a
stream-of-search log, or plain CoT."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from metacot.linearize.config import LinearizeConfig
from metacot.linearize.reasons import (
    CAUGHT,
    CAUGHT_BELOW,
    EXHAUSTED,
    EXHAUSTED_WORDS,
    EXPLORATION_WORDS,
    GO_BACK_WORDS,
    LOW_VALUE,
    LOW_WORDS,
    LOWER_WORDS,
    MISTAKE,
    MISTAKE_WORDS,
    Reason,
    classify,
    value_text,
)
from metacot.linearize.walk import Move
from metacot.problems.base import Domain
from metacot.seeding import mix, problem_seed
from metacot.tree import ROOT, Node, SearchTree


@dataclass
class Context:
    """Everything a renderer reads: the tree, its problem and domain, and the options."""

    tree: SearchTree
    domain: Domain
    problem: Any
    config: LinearizeConfig
    solution: int | None = None  # the verified solution the record answers with
    seed: int = field(init=False)
    checks: int = field(default=0, init=False)  # verification sentences rendered so far (the structural tagger)
    reasoned: tuple[list[Move], dict[int, Reason]] | None = field(default=None, init=False, repr=False)  # reasons()
    # what the formats ask of the same nodes again, worked out once per tree: node id -> state text, first slip
    states: dict[int, str] = field(default_factory=dict, init=False, repr=False)
    slips: dict[int, int | None] = field(default_factory=dict, init=False, repr=False)
    answer: str | None = field(default=None, init=False, repr=False)  # final_answer()

    def __post_init__(self) -> None:
        self.seed = problem_seed(0, self.tree.problem_id)

    def node(self, node_id: int) -> Node:
        return self.tree.nodes[node_id]

    def state(self, node_id: int) -> str:
        text = self.states.get(node_id)
        if text is None:
            text = self.states[node_id] = self.domain.describe_state(self.problem, self.tree.nodes[node_id].state)
        return text

    def final_answer(self) -> str:
        """The domain's final answer for the solution the record answers with (worked out once per tree)."""
        if self.answer is None:
            assert self.solution is not None
            self.answer = self.domain.final_answer(self.problem, self.tree.steps_to(self.solution))
        return self.answer

    def first_slip(self, node_id: int) -> int | None:
        """SearchTree.first_slip, kept per node: the formats ask it of the same nodes again."""
        if node_id not in self.slips:
            self.slips[node_id] = self.tree.first_slip(node_id)
        return self.slips[node_id]

    def pick(self, phrases: tuple[str, ...], node_id: int, salt: int = 0) -> str:
        """A phrasing that varies across problems and nodes but is the same on every run."""
        return phrases[mix(self.seed, node_id, salt) % len(phrases)]

    def value(self, move: Move) -> float | None:
        """The value the search held for the move's node when it went there (see SearchTree.value_at)."""
        return self.tree.value_at(move.node, move.visit)


class Lines(list[str]):
    """Rendered lines that remember the index in moves of the move each was written for (None: no move), so a
    record can be cut into segments by node (see linearize.segments). Renderers that return a plain list of
    lines give no segments."""

    def __init__(self) -> None:
        super().__init__()
        self.moves: list[int | None] = []

    def add(self, text: str, move: int | None) -> None:
        self.append(text)
        self.moves.append(move)


def reasons(ctx: Context, moves: list[Move]) -> dict[int, Reason]:
    """The reason of every backtrack, by its index in moves (decided once for the moves the formats share)."""
    if ctx.reasoned is not None and ctx.reasoned[0] is moves:
        return ctx.reasoned[1]
    found = {}
    current = ROOT
    for i, move in enumerate(moves):
        if move.kind == "backtrack":
            found[i] = classify(ctx.tree, current, move, moves[i + 1])
        current = move.node
    ctx.reasoned = (moves, found)
    return found


def leaving_sentence(ctx: Context, reason: Reason) -> str:
    """Why the trace leaves a node, true of the tree ("" after a failed step: its verdict said so)."""
    if reason.kind == MISTAKE:
        wrong = ctx.node(reason.subject)
        words = ctx.pick(MISTAKE_WORDS, reason.left, 4).format(step=wrong.step.strip().rstrip("."))
        ctx.checks += 1
        if ctx.node(reason.left).terminal:  # its verdict stated the check
            return words
        ctx.checks += 1
        return f"{CAUGHT_BELOW.format(state=ctx.state(reason.left), why=wrong.slip)} {words}"
    if reason.kind == EXHAUSTED:
        if reason.subject == reason.left and ctx.node(reason.left).dead:
            return ""
        words = ctx.pick(EXHAUSTED_WORDS, reason.subject, 1)
        return words.format(state=ctx.state(reason.subject), goal=ctx.domain.goal(ctx.problem))
    if reason.kind == LOW_VALUE:
        assert reason.value is not None
        v = value_text(reason.value)
        if reason.better is None:
            return ctx.pick(LOW_WORDS, reason.left, 2).format(state=ctx.state(reason.left), v=v)
        return ctx.pick(LOWER_WORDS, reason.left, 2).format(v=v, w=value_text(reason.better))
    return ctx.pick(EXPLORATION_WORDS, reason.left, 3)


def step_sentence(ctx: Context, node: Node) -> str:
    """The step as written, then what it led to: a verdict, a noticed mistake, or the new state."""
    step = node.step.strip().rstrip(".")
    if node.error is not None:
        ctx.checks += 1
        return f"{step}. Wait, that's wrong: {node.error}."
    if node.terminal:
        return f"{step}. {verdict(ctx, node)}"
    note = ctx.domain.step_note(ctx.problem, node.state)
    return f"{step}. {note}" if note else f"{step}."


def verdict(ctx: Context, node: Node) -> str:
    """The check of a finished path: the domain's verdict, or the wrong step its verification finds."""
    ctx.checks += 1
    slip = ctx.first_slip(node.id)
    if slip is not None:
        return CAUGHT.format(why=ctx.node(slip).slip)
    return ctx.domain.verdict(ctx.problem, node.state, node.correct)


def render_metacot(ctx: Context, moves: list[Move]) -> list[str]:
    lines = Lines()
    why = reasons(ctx, moves)
    for i, move in enumerate(moves):
        node = ctx.node(move.node)
        if move.kind == "backtrack":
            go_back = ctx.pick(GO_BACK_WORDS, node.id).format(state=ctx.state(node.id))
            lines.add(" ".join(s for s in (leaving_sentence(ctx, why[i]), go_back) if s), i)
            continue
        lines.add(step_sentence(ctx, node), i)
        if ctx.config.value_lines:
            value = ctx.value(move)
            if value is not None:
                lines.add(f"Value: {value_text(value)}", i)
    return lines


ALTERNATIVELY = "Alternatively, "  # paper: a step that leaves the current branch for one split off earlier
FINAL_ANSWER = "Final Answer: "
SOLUTION = "Solution:"


def paper_value(tree: SearchTree, node_id: int, visit: int) -> str | None:
    """A paper value line's value: a Monte Carlo value exactly, as verified completions / completions ("3/8"),
    whatever the search made of it; any other value as the search held it at trace position `visit`."""
    node = tree.nodes[node_id]
    if node.rollouts is not None and node.successes is not None:
        return f"{node.successes}/{node.rollouts}"
    value = tree.value_at(node_id, visit)
    return None if value is None else value_text(value)


def render_paper(ctx: Context, moves: list[Move]) -> list[str]:
    """The Meta-CoT paper's trace (arXiv 2501.04682, appendix E): each step followed by a line with its value; a step
    that does not continue the one before (the search went back) starts with "Alternatively, "; then the final
    answer and a Solution block with the clean path from the root to the verified solution, a step per line."""
    lines = []
    switched = False
    for move in moves:
        if move.kind == "backtrack":
            switched = True
            continue
        sentence = step_sentence(ctx, ctx.node(move.node))
        lines.append(ALTERNATIVELY + sentence if switched else sentence)
        switched = False
        value = paper_value(ctx.tree, move.node, move.visit)
        if value is not None:
            lines.append(f"Value: {value}")
    if ctx.solution is not None:
        steps = ctx.tree.steps_to(ctx.solution)
        lines += [FINAL_ANSWER + ctx.final_answer(), SOLUTION, *(s.strip() for s in steps)]
    return lines


def render_tokens(ctx: Context, moves: list[Move]) -> list[str]:
    lines = Lines()
    why = reasons(ctx, moves)
    for i, move in enumerate(moves):
        node = ctx.node(move.node)
        if move.kind == "backtrack":
            reason = why[i]
            if reason.kind == MISTAKE and not ctx.node(reason.left).terminal:  # the check the search made below
                why_wrong = ctx.node(reason.subject).slip
                ctx.checks += 1
                lines.add(f"<verify> {CAUGHT_BELOW.format(state=ctx.state(reason.left), why=why_wrong)}", i)
            lines.add(f"<backtrack to={node.path} reason={reason.kind}> {ctx.state(node.id)}", i)
            continue
        lines.add(f"<step> {node.step.strip()}", i)
        if node.error is not None:
            ctx.checks += 1
            lines.add(f"<verify> {node.error}", i)
        elif node.terminal:
            lines.add(f"<verify> {verdict(ctx, node)}", i)
        value = ctx.value(move)
        if value is not None:
            lines.add(f"<value> {value_text(value)}", i)
    return lines


def render_sos(ctx: Context, moves: list[Move]) -> list[str]:
    """The stream-of-search log (Gandhi et al. 2024): nodes generated when expanded, moves, goal checks."""
    explored: dict[int, str] = {}
    lines = _sos_arrive(ctx, ROOT, explored, moving=False)
    at = ROOT
    nodes = ctx.tree.nodes
    for move in moves:
        if lines[-1].endswith("Goal Reached"):
            break
        node = nodes[move.node]
        # a terminal's goal check was written when it was generated; a wrong result taken at face value has no
        # words in the log, so the branch below it is left out
        if node.terminal or node.id == at or ctx.first_slip(node.id) is not None:
            continue
        lines += _sos_arrive(ctx, node.id, explored, moving=True)
        at = node.id
    return lines


def _sos_arrive(ctx: Context, node_id: int, explored: dict[int, str], moving: bool) -> list[str]:
    """The lines of a move to the node; the first arrival also generates its children. explored: each explored
    node's "Current State" line, written again on a return."""
    nodes = ctx.tree.nodes
    node = nodes[node_id]
    lines = [f"Moving to Node #{_sos_id(node)}"] if moving else []
    if node_id in explored:
        lines.append(explored[node_id])
        return lines
    target = ctx.problem.target
    ops = [_sos_op(nodes[i].step) for i in ctx.tree.path_to(node_id)[1:]]
    explored[node_id] = f"Current State: {target}:{_sos_numbers(node.state)}, Operations: {ops}"
    lines.append(explored[node_id])
    for child in map(nodes.__getitem__, node.children):
        # The log has no words for an illegal or wrong step, and reaches only the goal the record answers with.
        if child.error is not None or child.slip is not None or (child.correct and child.id != ctx.solution):
            continue
        op, numbers = _sos_op(child.step), _sos_numbers(child.state)
        lines.append(f"Exploring Operation: {op}, Resulting Numbers: {numbers}")
        if child.terminal:
            verdict = "equal: Goal Reached" if child.correct else "unequal: No Solution"
            ctx.checks += 1
            lines.append(f"{child.state[0]},{target} {verdict}")
            if child.correct:
                return lines
        else:
            lines.append(f"Generated Node #{_sos_id(child)}: {target}:{numbers} Operation: {op}")
    return lines


def _sos_id(node: Node) -> str:
    return node.path.replace(".", ",")


def _sos_op(step: str) -> str:
    return step.replace(" ", "")


def _sos_numbers(state: Any) -> str:
    return "[" + ", ".join(map(str, state)) + "]"


# Formats only a domain of numbers and a target writes (Domain.numbers_to_target): the stream-of-search log speaks
# of them.
NUMBERS_ONLY = frozenset({"sos"})
# Formats rendered from the answered solution's path alone, not the search's moves.
PATH_ONLY = frozenset({"cot"})

RENDERERS: dict[str, Callable[[Context, list[Move]], list[str]]] = {
    "metacot": render_metacot,
    "paper": render_paper,
    "tokens": render_tokens,
    "cot": render_metacot,  # rendered from the solution path alone
    "sos": render_sos,
}
