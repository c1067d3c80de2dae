"""The paper format, the Meta-CoT paper's trace (arXiv 2501.04682, appendix E), and its audit: every step, value
line, "Alternatively", final answer and Solution block."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metacot.linearize.formats.base import TraceFormat
from metacot.linearize.formats.metacot import VALUE
from metacot.linearize.reasons import value_text
from metacot.linearize.render import Context, step_sentence
from metacot.linearize.walk import Move
from metacot.tree import ROOT, Node, SearchTree

if TYPE_CHECKING:
    from metacot.linearize.auditor import Auditor

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


def paper_moves(ctx: Context, search_moves: list[Move]) -> list[Move]:
    """The search's moves but those at or below a slip taken at face value that no written check names (as the sos
    log, the text leaves out what it cannot call wrong: paper has no backtrack sentence, only a finished path's
    check, render.verdict, names a slip). One rule marks a switch ("Alternatively, ", audit_paper): the search's
    backtrack is kept where the next step written does not go on from the last one written; after a left-out
    stretch that may return where the text stands (no switch)."""
    checked = (m.node for m in search_moves if m.kind == "step" and _checks(ctx.node(m.node)))
    named = {ctx.first_slip(node_id) for node_id in checked}
    moves: list[Move] = []
    back: Move | None = None
    at = ROOT
    for move in search_moves:
        slip = ctx.first_slip(move.node)
        if slip is not None and slip not in named:
            continue
        if move.kind == "backtrack":
            back = move  # to the next written step's parent: a step is only ever taken from a node written
            continue
        if back is not None and ctx.node(move.node).parent != at:
            moves.append(back)
        moves.append(move)
        at, back = move.node, None
    return moves


def _checks(node: Node) -> bool:
    """The node's sentence is the check of a finished path (step_sentence)."""
    return node.terminal and node.error is None


def render_paper(ctx: Context, moves: list[Move]) -> list[str]:
    """Each step followed by a line with its value; a step that does not continue the one before (the search went
    back) starts with "Alternatively, "; then the final answer and a Solution block with the clean path from the root
    to the verified solution, a step per line."""
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
            lines.append(f"{VALUE}{value}")
    if ctx.solution is not None:
        steps = ctx.tree.steps_to(ctx.solution)
        lines += [FINAL_ANSWER + ctx.final_answer(), SOLUTION, *(s.strip() for s in steps)]
    return lines


def audit_paper(auditor: Auditor, segments: list[str], answer: str) -> None:
    """Check a paper record's body: each step is one the search took from the node the trace stands on, written as
    the domain recomputes it (after a wrong step, its correction: Auditor.parents), or, after "Alternatively, ", from
    an earlier-written node other than that one (a switch to a branch split off earlier; a plain step always
    continues); each value line is its step's value (a Monte Carlo
    value exactly: the node's successes/rollouts); a solved record ends with the final answer of the Solution block's
    path, and that block is the root-to-leaf path of a verified solution."""
    tree = auditor.tree
    split = segments.index(SOLUTION) if SOLUTION in segments else len(segments)
    trace, solution = segments[:split], segments[split + 1 :]
    last: int | None = None
    for segment in trace:
        if segment.startswith(VALUE):
            expect = None if last is None else paper_value(tree, last, auditor.first.get(last, len(tree.trace)))
            auditor.claim(segment[len(VALUE) :] == expect, segment, f"the value is {expect or 'no value'}")
            continue
        if segment.startswith(FINAL_ANSWER):
            auditor.claim(segment[len(FINAL_ANSWER) :] == answer, segment, f"the record answers {answer!r}")
            continue
        switched = segment.startswith(ALTERNATIVELY)
        text = segment[len(ALTERNATIVELY) :] if switched else segment
        parents = sorted(n for n in auditor.visited if n != auditor.current) if switched else auditor.parents([])
        if not parents:
            auditor.fail(segment, "says 'Alternatively' where no other branch was written")
            return
        child = _written_step(auditor, parents, text) or auditor.step_to(parents, text, segment, exact=False)
        if child is None:
            return
        outcome = auditor.arrive(child, segment)
        expected = auditor.sentence(child, outcome)
        auditor.claim(text == expected, segment, f"the step gives: {expected!r}")
        last = child
    if auditor.record["correct"]:
        _solution(auditor, solution, trace, answer)
    else:
        auditor.claim(SOLUTION not in segments, SOLUTION, "an unsolved record has no Solution block")


def _written_step(auditor: Auditor, parents: list[int], text: str) -> int | None:
    """The child of one of `parents` not written yet whose recomputed sentence is exactly `text` (the first the
    search visited); None when there is none (step_to then says what is wrong)."""
    tree, domain = auditor.tree, auditor.domain
    order = len(tree.trace)
    found = []
    for parent in (p for p in parents if auditor.states[p] is not None):  # a wrong step has no children
        for child in tree.nodes[parent].children:
            node = tree.nodes[child]
            if child in auditor.visited or not text.startswith(node.step.strip().rstrip(".")):
                continue
            outcome = domain.apply_step(auditor.problem, auditor.states[parent], node.step)
            if auditor.sentence(child, outcome) == text:
                found.append(child)
    return min(found, key=lambda c: (auditor.first.get(c, order), c), default=None)


def _solution(auditor: Auditor, steps: list[str], trace: list[str], answer: str) -> None:
    """The Solution block is the path from the root to a verified solution the trace reached, and the final answer
    is that path's."""
    tree = auditor.tree
    reached = [n for n in auditor.visited if tree.nodes[n].correct and tree.steps_to(n) == steps]
    where = SOLUTION + " " + " | ".join(steps)
    if not auditor.claim(bool(steps) and bool(reached), where, "not the path to a verified solution the trace reached"):
        return
    final = auditor.domain.final_answer(auditor.problem, steps)
    ok = bool(trace) and trace[-1] == FINAL_ANSWER + final and answer == final
    auditor.claim(ok, trace[-1] if trace else where, f"the trace must end with {FINAL_ANSWER}{final}")


PAPER = TraceFormat(
    help="the Meta-CoT paper's layout",
    render=render_paper,
    parse=audit_paper,
    own_moves=paper_moves,
    on_request=True,  # --preset metacot-paper asks for it
)
