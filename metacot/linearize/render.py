"""What every trace format's renderer shares: the Context it reads, Lines marked by move, and the sentences of
steps, verdicts and backtracks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from metacot.linearize.attempts import ATTEMPTS, SEPARATOR, attempt_words, covered, repaired_words, tried, with_repairs
from metacot.linearize.reasons import (
    AHEAD_WORDS,
    CAUGHT,
    CAUGHT_BELOW,
    EXHAUSTED,
    EXHAUSTED_WORDS,
    FIX_WORDS,
    LOW_VALUE,
    LOW_WORDS,
    LOWER_WORDS,
    MISTAKE,
    MISTAKE_WORDS,
    ORDER_WORDS,
    REACHED_BY,
    REASONLESS_WORDS,
    TIE_WORDS,
    Reason,
    classify,
    fix_reason,
    step_text,
    value_text,
)
from metacot.linearize.walk import Move, heading
from metacot.policy.cite import with_citations
from metacot.problems.base import Domain
from metacot.seeding import mix, problem_seed
from metacot.tree import ROOT, Node, SearchTree

NOTICED = "Wait, that's wrong: {error}."  # after a step whose error the domain finds as it is taken


@dataclass
class Context:
    """Everything a renderer reads: the tree, its problem and domain, and the options (value_lines: the values the
    search held, written as lines; citations: each step with the behaviours its policy cited, metacot.policy.cite;
    plans: subgoals and backward chains woven from the path, linearize.plans)."""

    tree: SearchTree
    domain: Domain
    problem: Any
    value_lines: bool
    solution: int | None = None  # the verified solution the record answers with
    citations: bool = False
    plans: bool = False
    seed: int = field(init=False)
    checks: int = field(default=0, init=False)  # verification sentences rendered so far (the structural tagger)
    said: Counter[str] = field(default_factory=Counter, init=False)  # plan sentences rendered, by habit
    reasoned: tuple[list[Move], dict[int, Reason]] | None = field(default=None, init=False, repr=False)  # reasons()
    # what the formats ask of the same nodes again, worked out once per tree: node id -> state text, first slip
    states: dict[int, str] = field(default_factory=dict, init=False, repr=False)
    slips: dict[int, int | None] = field(default_factory=dict, init=False, repr=False)
    answer: str | None = field(default=None, init=False, repr=False)  # final_answer()

    def __post_init__(self) -> None:
        self.seed = problem_seed(0, self.tree.problem_id)

    def node(self, node_id: int) -> Node:
        return self.tree.nodes[node_id]

    def step(self, node: Node) -> str:
        """The node's step as the trace writes it: with its citations when the options ask for them."""
        return with_citations(node.step, node.cites) if self.citations else node.step

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
    written = {move.node: i for i, move in enumerate(moves) if move.kind == "step"}
    for i, move in enumerate(moves):
        if move.kind == "backtrack":
            found[i] = classify(ctx.tree, current, move, heading(moves, i + 1), partial(_after, written, i))
        current = move.node
    ctx.reasoned = (moves, found)
    return found


def _after(written: dict[int, int], index: int, node_id: int) -> bool:
    """The text writes the node as a step after move `index` (written: node -> the index of its step)."""
    return written.get(node_id, -1) > index


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
    if reason.value is not None and reason.better is not None:
        v, w = value_text(reason.value), value_text(reason.better)
        return ctx.pick(TIE_WORDS if v == w else AHEAD_WORDS, reason.left, 3).format(v=v, w=w)
    return ctx.pick(ORDER_WORDS if reason.ordered else REASONLESS_WORDS, reason.left, 3)


def attempt_lines(ctx: Context, reason: Reason, visit: int, written: set[int], template: str = ATTEMPTS) -> list[str]:
    """The lines that show the tried steps a departure's conclusion rests on (attempts: the state it concludes about,
    and for an exhausted branch the live states below it), one line per state, deepest first, each the format's
    `template` with the {state} and its {attempts}: the steps not in `written` (what the text writes as steps,
    anywhere, and has listed), which the listed ones join, each slip with its correction (attempts.with_repairs). None
    for a mistake, or after a step whose own verdict said it failed, but the correction of a slip the text stands at
    (written just before, and never as a step), from its state."""
    left = ctx.node(reason.left)
    lines = []
    if left.dead and left.repair is not None and left.repair not in written:
        written.add(left.repair)
        lines.append(template.format(state=ctx.state(left.parent), attempts=attempt(ctx, ctx.node(left.repair), visit)))
    if reason.kind == MISTAKE or (reason.kind == EXHAUSTED and reason.subject == reason.left and left.dead):
        return lines
    for node_id in covered(ctx.tree, reason.subject, visit, reason.kind == EXHAUSTED):
        shown = with_repairs(ctx.tree, [c for c in tried(ctx.tree, node_id, visit) if c not in written], written)
        if shown:
            written.update(shown)
            attempts = SEPARATOR.join(attempt(ctx, ctx.node(child), visit) for child in shown)
            lines.append(template.format(state=ctx.state(node_id), attempts=attempts))
    return lines


def back_state(ctx: Context, moves: list[Move], i: int) -> str:
    """The state the backtrack moves[i] goes to, as the text names it: its numbers, with the step that reached it
    (REACHED_BY) when the latest state the text stood at with those numbers is another position to a reader (one of
    the two below a wrong result taken at face value, or a search that did not merge transpositions)."""
    target = moves[i].node
    text = ctx.state(target)
    stood = (m.node for m in reversed(moves[:i]) if m.kind == "step" and _stands(ctx.node(m.node)))
    latest = next((n for n in stood if ctx.state(n) == text), target)
    merged = ctx.tree.transpositions_merged and ctx.first_slip(latest) is None and ctx.first_slip(target) is None
    return text if latest == target or merged else REACHED_BY.format(state=text, step=step_text(ctx.node(target).step))


def _stands(node: Node) -> bool:
    """The text stands where the node's step leads: it neither failed nor finished a path."""
    return node.error is None and not node.terminal


def correction_lines(ctx: Context, reason: Reason, back: Move, written: set[int]) -> list[str]:
    """After a mistake backtrack to the wrong step's parent, its corrected step (a real child) as an attempt from
    there, when the text writes it nowhere as a step (walk: the search never took it up)."""
    fixed = unwritten_fix(ctx, reason, written)
    if fixed is None or back.node != fixed.parent:
        return []
    written.add(fixed.id)
    return [ATTEMPTS.format(state=ctx.state(fixed.parent), attempts=attempt(ctx, fixed, back.visit))]


def correction_clause(ctx: Context, reason: Reason, back: Move, toward: Move, written: set[int]) -> str:
    """After the mistake words of a backtrack that goes elsewhere than the wrong step's parent, toward the step
    `toward`: the corrected step the text writes nowhere as a step, and why the search takes up that step first
    (reasons.fix_reason: FIX_WORDS); "" when the corrected step finished a path, or the tree grounds no reason."""
    fixed = unwritten_fix(ctx, reason, written)
    if fixed is None or back.node == fixed.parent or fixed.terminal:
        return ""
    how = fix_reason(ctx.tree, fixed.id, toward, back.visit)
    if how is None:
        return ""
    written.add(fixed.id)
    v, w = (ctx.tree.value_at(n, back.visit) for n in (fixed.id, toward.node))
    step = ctx.step(fixed).strip().rstrip(".")
    return FIX_WORDS[how].format(fix=step, fixed=ctx.state(fixed.id), v=_printed(v), w=_printed(w))


def unwritten_fix(ctx: Context, reason: Reason, written: set[int]) -> Node | None:
    """The corrected step of the slip a mistake backtrack names (a real child: search.expand.repair), when the text
    writes it nowhere as a step (walk: the search never took it up) and has not listed it; None for other reasons."""
    repair = ctx.node(reason.subject).repair if reason.kind == MISTAKE else None
    return None if repair is None or repair in written else ctx.node(repair)


def _printed(value: float | None) -> str:
    return "" if value is None else value_text(value)


def attempt(ctx: Context, node: Node, visit: int) -> str:
    """A step in an attempts line: a failed one with its error, or the verdict of the path it finished; a slip's
    correction the search never took up, with the value it held for it by trace visit `visit`."""
    if not node.dead:
        value = ctx.tree.value_at(node.id, visit)
        return repaired_words(ctx.step(node), None if value is None else value_text(value), ctx.state(node.id))
    return attempt_words(ctx.step(node), node.error, verdict(ctx, node) if node.error is None else "")


def step_sentence(ctx: Context, node: Node) -> str:
    """The step as written, then what it led to: a verdict, a noticed mistake, or the new state."""
    if node.error is not None:
        ctx.checks += 1
    check = verdict(ctx, node) if node.terminal and node.error is None else None
    return step_words(ctx.domain, ctx.problem, ctx.step(node), node.state, node.error, check)


def step_words(domain: Domain, problem: Any, step: str, state: Any, error: str | None, check: str | None) -> str:
    """A step's sentence: the step as written, then its error (NOTICED), the check of the path it finished, or the
    domain's note on the state it leaves (the writer's words, and what the reader expects)."""
    step = step.strip().rstrip(".")
    if error is not None:
        return f"{step}. {NOTICED.format(error=error)}"
    if check is not None:
        return f"{step}. {check}"
    note = domain.step_note(problem, state)
    return f"{step}. {note}" if note else f"{step}."


def verdict(ctx: Context, node: Node) -> str:
    """The check of a finished path: the domain's verdict, or the wrong step its verification finds."""
    ctx.checks += 1
    slip = ctx.first_slip(node.id)
    if slip is not None:
        return CAUGHT.format(why=ctx.node(slip).slip)
    return ctx.domain.verdict(ctx.problem, node.state, node.correct)
