"""The tokens format: the search in special tokens (<step>, <verify>, <value>, <tried>, <backtrack to=PATH
reason=KIND>), and its audit."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from metacot.linearize.formats.base import TraceFormat
from metacot.linearize.formats.metacot import attempts, sentence_pattern
from metacot.linearize.reasons import CAUGHT_BELOW, EXHAUSTED, EXPLORATION, LOW, LOW_VALUE, MISTAKE, value_text
from metacot.linearize.render import Context, Lines, attempt_lines, back_state, reasons, verdict
from metacot.linearize.walk import Move

if TYPE_CHECKING:
    from metacot.linearize.auditor import Auditor

TOKEN = re.compile(
    r"<(?P<tag>step|verify|value|tried)> (?P<text>.*)"
    r"|<backtrack to=(?P<path>[\d.]+) reason=(?P<kind>\w+)> (?P<state>.*)"
)
# the failed steps tried from a state that a backtrack's reason rests on (linearize.attempts), before it
TRIED = "<tried> {state}: {attempts}"
TRIED_LINE = re.compile(sentence_pattern(TRIED))


def render_tokens(ctx: Context, moves: list[Move]) -> list[str]:
    """Each step, its check and value; before each backtrack, the tried steps its reason rests on (TRIED lines, as
    the metacot format shows them: render.attempt_lines), then the backtrack with its reason. A low value is the one
    held when the trace leaves: printed again first when visits the text does not show (below a slip it never
    writes, linearize.walk) have changed it since its step."""
    lines = Lines()
    why = reasons(ctx, moves)
    written = {move.node for move in moves if move.kind == "step"}
    printed: dict[int, str] = {}  # each node's last <value>
    for i, move in enumerate(moves):
        node = ctx.node(move.node)
        if move.kind == "backtrack":
            reason = why[i]
            if reason.kind == LOW_VALUE and reason.value is not None:  # the value it leaves for: held now, as printed
                now = value_text(reason.value)
                if printed.get(reason.left) != now:
                    lines.add(f"<value> {now}", i)
            for line in attempt_lines(ctx, reason, move.visit, written, TRIED):
                lines.add(line, i)
            if reason.kind == MISTAKE and not ctx.node(reason.left).terminal:  # the check the search made below
                why_wrong = ctx.node(reason.subject).slip
                ctx.checks += 1
                lines.add(f"<verify> {CAUGHT_BELOW.format(state=ctx.state(reason.left), why=why_wrong)}", i)
            lines.add(f"<backtrack to={node.path} reason={reason.kind}> {back_state(ctx, moves, i)}", i)
            continue
        lines.add(f"<step> {node.step.strip()}", i)
        if node.error is not None:
            ctx.checks += 1
            lines.add(f"<verify> {node.error}", i)
        elif node.terminal:
            lines.add(f"<verify> {verdict(ctx, node)}", i)
        value = ctx.value(move)
        if value is not None:
            printed[node.id] = value_text(value)
            lines.add(f"<value> {printed[node.id]}", i)
    return lines


def audit_tokens(auditor: Auditor, lines: list[str], answer: str) -> None:
    """Check each line: a step the search took, a check as the domain recomputes it, the value the search held, the
    failed steps a <tried> line lists (formats.metacot.attempts), a backtrack's target, state and reason; and that no
    conclusion about a state comes before the steps tried from it (Auditor.check_support, Auditor.settle)."""
    _read(auditor, lines)
    auditor.settle()


def _read(auditor: Auditor, lines: list[str]) -> None:
    tree = auditor.tree
    by_path = {n.path: n.id for n in tree.nodes}
    pending: list[int] = []
    low: str | None = None
    left = auditor.current  # the node a low-value backtrack left
    valued: int | None = None  # the node whose value was printed since the text stood there
    for line in lines:
        m = TOKEN.fullmatch(line)
        if m is None or (m["tag"] == "tried" and not attempts(auditor, line, TRIED_LINE)):
            auditor.fail(line, "not a line of the tokens format")
            return
        if m["tag"] == "tried":
            continue
        if m["path"] is not None:
            left = auditor.current
            pending, low = _backtrack(auditor, m, by_path, line)
            if not pending:
                return
        elif m["tag"] == "step":
            child = auditor.step_to(auditor.parents(pending), m["text"], line, exact=True)
            if child is None:
                return
            if low is not None and child not in auditor.aside:  # the value held when the trace left (a node
                nxt = auditor.value(child)  # visited again held several)
                values = auditor.values_before(left, auditor.first.get(child, len(tree.trace)))
                ok = any(v < LOW or (nxt is not None and v < nxt) for v in values)
                auditor.claim(ok, low, "leaves for low value, but its value is neither low nor below the next")
                low = None
            pending = []
            auditor.arrive(child, line)
        elif m["tag"] == "verify":
            node = tree.nodes[auditor.current]
            outcome = auditor.domain.apply_step(auditor.problem, auditor.states[node.parent], node.step)
            expected = auditor.after_step(node.id, outcome)
            if expected is None:  # a check of the finished paths below, before a mistake backtrack
                mistake = auditor.mistake_found()
                expected = mistake and CAUGHT_BELOW.format(state=auditor.describe(node.id), why=mistake[1])
            auditor.claim(m["text"] == expected, line, f"the check gives: {expected!r}")
        else:
            again = valued == auditor.current  # printed again before leaving: the value held then
            held = tree.value_at(auditor.current, auditor.next_visit() - 1) if again else auditor.value(auditor.current)
            expect = value_text(held) if held is not None else "none"
            auditor.claim(m["text"] == expect, line, f"the value is {expect}")
            valued = auditor.current


def _backtrack(auditor: Auditor, m: re.Match[str], by_path: dict[str, int], line: str) -> tuple[list[int], str | None]:
    target = by_path.get(m["path"])
    if not auditor.claim(target in auditor.visited, line, f"backtrack to {m['path']}, a node not visited earlier"):
        return [], None
    assert target is not None
    auditor.result.reasons[m["kind"]] += 1
    true_state = auditor.describe(target)
    auditor.claim(auditor.called(m["state"], target), line, f"that node's state is {true_state}")
    if m["kind"] == EXHAUSTED:
        head = auditor.check_exhausted(None, line)
        if head is not None:
            auditor.check_support(head, True, line)
    elif m["kind"] == MISTAKE:
        auditor.leaves_mistake(auditor.check_mistake(None, line), [target], line)
    elif m["kind"] in (LOW_VALUE, EXPLORATION):
        auditor.check_support(auditor.current, False, line)
    else:
        auditor.fail(line, f"unknown reason {m['kind']!r}")
    return [target], line if m["kind"] == LOW_VALUE else None


TOKENS = TraceFormat(
    help="the search in special tokens",
    render=render_tokens,
    parse=audit_tokens,
    segments=True,
)
