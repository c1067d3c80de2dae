"""The metacot format: the search in sentences, each step with what it gave, each backtrack with its reason; and its
audit, which parses the sentences back with the templates of linearize.reasons."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from metacot.linearize.formats.base import TraceFormat
from metacot.linearize.reasons import (
    CAUGHT_BELOW,
    EXHAUSTED,
    EXHAUSTED_WORDS,
    EXPLORATION,
    EXPLORATION_WORDS,
    GO_BACK_WORDS,
    LOW,
    LOW_VALUE,
    LOW_WORDS,
    LOWER_WORDS,
    MISTAKE,
    MISTAKE_WORDS,
    value_text,
)
from metacot.linearize.render import Context, Lines, leaving_sentence, reasons, step_sentence
from metacot.linearize.walk import Move
from metacot.tree import ROOT

if TYPE_CHECKING:
    from metacot.linearize.auditor import Auditor

VALUE = "Value: "


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
        if ctx.value_lines:
            value = ctx.value(move)
            if value is not None:
                lines.add(f"{VALUE}{value_text(value)}", i)
    return lines


def audit_sentences(auditor: Auditor, segments: list[str], answer: str) -> None:
    """Check each sentence: a step the search took from where the trace stands (or where a backtrack said it goes),
    written as the domain recomputes it; a value line, the value the search held; a backtrack, its reason and
    target (backtrack)."""
    patterns = backtrack_patterns(auditor.domain.goal(auditor.problem))
    pending: list[int] = []  # where a backtrack said it goes
    better: tuple[str, str] | None = None  # a low-value claim's "looks better (w)", checked at the next step
    last = ROOT
    for segment in segments:
        if segment.startswith(VALUE):
            held = auditor.value(last)
            expect = value_text(held) if held is not None else "none"
            auditor.claim(segment[len(VALUE) :] == expect, segment, f"the value is {expect}")
            continue
        back = backtrack(auditor, segment, patterns)
        if back is not None:
            pending, better = back
            if not pending:  # gone back to no known state: the rest cannot be followed
                return
            continue
        child = auditor.step_to(pending or [auditor.current], segment, segment, exact=False)
        if child is None:
            return
        if better is not None:
            ok = better[0] in auditor.known_values(child)
            auditor.claim(ok, better[1], f"the next step's value is not {better[0]}")
        pending, better = [], None
        outcome = auditor.arrive(child, segment)
        expected = auditor.sentence(child, outcome)
        auditor.claim(segment == expected, segment, f"the step gives: {expected!r}")
        last = child


def _template(words: str, **fixed: str) -> str:
    """A sentence template as a regex: the fixed fields filled in, {state} and values captured."""
    pattern = re.escape(words)
    for name, text in fixed.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), re.escape(text))
    for name in ("state", "step", "why"):
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>.+?)")
    return pattern.replace(re.escape("{v}"), r"(?P<v>\d+\.\d\d)").replace(re.escape("{w}"), r"(?P<w>\d+\.\d\d)")


def backtrack_patterns(goal_text: str) -> list[tuple[str, re.Pattern[str], re.Pattern[str]]]:
    """(kind, reason regex, go-back regex) for every wording a backtrack sentence may take."""
    kinds = [(EXHAUSTED, w) for w in EXHAUSTED_WORDS] + [(LOW_VALUE, w) for w in LOW_WORDS + LOWER_WORDS]
    kinds += [(EXPLORATION, w) for w in EXPLORATION_WORDS] + [(MISTAKE, w) for w in MISTAKE_WORDS]
    kinds += [(MISTAKE, f"{CAUGHT_BELOW} {w}") for w in MISTAKE_WORDS]
    back = [re.compile(_template(w).replace("?P<state>", "?P<back>")) for w in GO_BACK_WORDS]
    return [(kind, re.compile(_template(w, goal=goal_text)), b) for kind, w in kinds for b in back]


def backtrack(auditor: Auditor, segment: str, patterns: list) -> tuple[list[int], tuple[str, str] | None] | None:
    """None when the segment is no backtrack; else where it may go and a pending 'looks better' claim."""
    bare = next((b.fullmatch(segment) for _, _, b in patterns if b.fullmatch(segment)), None)
    if bare is not None:  # no reason: only after a step that said it failed
        auditor.result.reasons[EXHAUSTED] += 1
        node = auditor.tree.nodes[auditor.current]
        ok = node.dead and not node.undecided
        auditor.claim(ok, segment, "leaves a node its check did not fail without a reason")
        return auditor.resolve_back(bare["back"], segment), None
    for kind, reason, back in patterns:
        m = re.fullmatch(f"{reason.pattern} {back.pattern}", segment)
        if m is None:
            continue
        auditor.result.reasons[kind] += 1
        better, wrong = None, None
        if kind == EXHAUSTED:
            auditor.check_exhausted(m["state"], segment)
        elif kind == MISTAKE:
            wrong = auditor.check_mistake(m, segment)
        elif kind == LOW_VALUE:
            known = auditor.known_values(auditor.current)
            auditor.claim(m["v"] in known, segment, f"the value here was {', '.join(sorted(known)) or 'none'}")
            if "w" in m.groupdict() and m["w"] is not None:
                auditor.claim(float(m["v"]) < float(m["w"]), segment, "the compared value is not higher")
                better = (m["w"], segment)
            else:
                auditor.claim(float(m["v"]) < LOW, segment, f"{m['v']} is not a low value (< {LOW})")
        targets = auditor.resolve_back(m["back"], segment)
        auditor.leaves_mistake(wrong, targets, segment)
        return targets, better
    return None


METACOT = TraceFormat(
    help="the search in sentences",
    render=render_metacot,
    parse=audit_sentences,
    segments=True,
)
