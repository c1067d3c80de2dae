"""The metacot format: the search in sentences, each step with what it gave, each backtrack with its reason; and its
audit, which parses the sentences back with the templates of linearize.reasons."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from metacot.linearize.attempts import ATTEMPTS, SEPARATOR, attempt_words, repaired_words
from metacot.linearize.formats.base import TraceFormat
from metacot.linearize.plancheck import Pursuit, made_by, read_plan
from metacot.linearize.plans import Woven, weave
from metacot.linearize.reasons import (
    AHEAD,
    AHEAD_WORDS,
    CAUGHT_BELOW,
    EXHAUSTED,
    EXHAUSTED_WORDS,
    EXPLORATION,
    FIX_WORDS,
    GO_BACK_WORDS,
    LOW,
    LOW_VALUE,
    LOW_WORDS,
    LOWER,
    LOWER_WORDS,
    MISTAKE,
    MISTAKE_WORDS,
    ORDER,
    ORDER_WORDS,
    REASONLESS,
    REASONLESS_WORDS,
    TIE,
    TIE_WORDS,
    UNSCORED,
    found_first,
    value_text,
)
from metacot.linearize.render import (
    Context,
    Lines,
    attempt_lines,
    back_state,
    correction_clause,
    correction_lines,
    leaving_sentence,
    reasons,
    step_sentence,
)
from metacot.linearize.walk import Move, heading
from metacot.tree import ROOT

if TYPE_CHECKING:
    from metacot.linearize.auditor import Auditor

VALUE = "Value: "


def render_metacot(ctx: Context, moves: list[Move]) -> list[str]:
    """Each step with what it gave; before each backtrack, the tried steps its reason rests on (attempt_lines), then
    the reason and where it goes back to."""
    lines = Lines()
    why = reasons(ctx, moves)
    written = {move.node for move in moves if move.kind == "step"}
    woven = plans(ctx, moves)
    for i, move in enumerate(moves):
        node = ctx.node(move.node)
        for habit, sentence in woven.before.get(i, []):
            lines.add(sentence, i)
            if habit is not None:
                ctx.said[habit] += 1
        if move.kind == "backtrack":
            for line in attempt_lines(ctx, why[i], move.visit, written):
                lines.add(line, i)
            go_back = ctx.pick(GO_BACK_WORDS, node.id).format(state=back_state(ctx, moves, i))
            fix = correction_clause(ctx, why[i], move, heading(moves, i + 1), written)
            lines.add(" ".join(s for s in (leaving_sentence(ctx, why[i]), fix, go_back) if s), i)
            for line in correction_lines(ctx, why[i], move, written):
                lines.add(line, i)
            continue
        lines.add(step_sentence(ctx, node), i)
        if ctx.value_lines:
            value = ctx.value(move)
            if value is not None:
                lines.add(f"{VALUE}{value_text(value)}", i)
        if i in woven.after:
            lines.add(woven.after[i], i)
    return lines


def plans(ctx: Context, moves: list[Move]) -> Woven:
    """With the plans option (numbers and a target): a subgoal where a run of steps makes one that relates to the
    target (or, on the run to the solution, leaves numbers that can still make it), and a backward chain on the run
    to the solution (linearize.plans)."""
    if not (ctx.plans and ctx.domain.numbers_to_target):
        return Woven()
    reachable = lambda state: ctx.domain.reachable(ctx.problem, state) is True  # noqa: E731
    return weave(ctx.tree, ctx.problem.target, moves, ctx.solution, (True, True), reachable, plain=False)


def audit_sentences(auditor: Auditor, segments: list[str], answer: str) -> None:
    """Check each sentence: a step the search took from where the trace stands (or where a backtrack said it goes),
    written as the domain recomputes it; a value line, the value the search held; an attempts line, failed steps the
    search tried from a state the text has shown; a backtrack, its reason and target (backtrack); and that no
    conclusion about a state comes before the steps tried from it (Auditor.settle)."""
    _read(auditor, segments)
    auditor.settle()


def _read(auditor: Auditor, segments: list[str]) -> None:
    patterns = backtrack_patterns(auditor.domain.goal(auditor.problem))
    pending: list[int] = []  # where a backtrack said it goes
    then: Callable[[int], None] | None = None  # a claim of the backtrack about the next step, checked there
    last = ROOT
    follow = Pursuit(auditor.problem.target) if auditor.domain.numbers_to_target else None
    for segment in segments:
        if segment.startswith(VALUE):
            held = auditor.value(last)
            expect = value_text(held) if held is not None else "none"
            auditor.claim(segment[len(VALUE) :] == expect, segment, f"the value is {expect}")
            continue
        if follow is not None and plan_sentence(auditor, follow, segment, pending[0] if pending else last):
            continue
        if attempts(auditor, segment):
            continue
        back = backtrack(auditor, segment, patterns)
        if back is not None:
            if follow is not None:
                kept(auditor, follow, segment)
            pending, then = back
            if not pending:  # gone back to no known state: the rest cannot be followed
                return
            continue
        child = auditor.step_to(auditor.parents(pending), segment, segment, exact=False)
        if child is None:
            return
        if then is not None and child not in auditor.aside:
            then(child)
            then = None
        pending = []
        outcome = auditor.arrive(child, segment)
        expected = auditor.sentence(child, outcome)
        auditor.claim(segment == expected, segment, f"the step gives: {expected!r}")
        last = child
        if follow is not None:
            follow.step(made_by(segment))
    if follow is not None and segments:
        kept(auditor, follow, segments[-1])


def plan_sentence(auditor: Auditor, follow: Pursuit, segment: str, here: int) -> bool:
    """A subgoal, a backward chain or a subgoal's check (linearize.plans), true of the numbers at `here` and of
    the steps before it; False when the segment is none of these."""
    reachable = lambda state: auditor.domain.reachable(auditor.problem, state) is True  # noqa: E731
    node = auditor.tree.nodes[here]
    while node.state is None:  # a failed step: the text stands where it was tried from
        node = auditor.tree.nodes[node.parent]
    plan = read_plan(segment, node.state, auditor.problem.target, reachable)
    if plan is None:
        return False
    auditor.claim(plan.wrong is None, segment, plan.wrong or "")
    wrong = follow.said(plan)
    auditor.claim(wrong is None, segment, wrong or "")
    return True


def kept(auditor: Auditor, follow: Pursuit, segment: str) -> None:
    """At the end of a run of steps (a backtrack, or the end): its subgoals made and checked, its chains completed."""
    unkept = follow.leave()
    auditor.claim(unkept is None, segment, unkept or "")


def attempts(auditor: Auditor, segment: str, line: re.Pattern[str] | None = None) -> bool:
    """An attempts line ("From [44, 101]: 44 * 101 = 4444 (4444 is not 33); ...", or a format's own `line` pattern
    of a {state} and its {attempts}): each listed step is one the search tried from a state the text has shown,
    failed as the domain recomputes it (or a listed slip's correction, right after it), and not shown before. False
    when the segment is no attempts line."""
    m = (line or ATTEMPTS_LINE).fullmatch(segment)
    if m is None:
        return False
    on_path = auditor.tree.path_to(auditor.current)
    for node_id in sorted(auditor.shown_as(m["state"]), key=lambda n: n not in on_path):  # the branch left first
        listed = read_listing(auditor, node_id, m["attempts"])
        if listed is not None:
            nodes = auditor.tree.nodes
            for before, child in zip([auditor.current, *listed], listed, strict=False):  # a slip, its correction
                repairs = corrects(auditor, before, child, node_id)
                auditor.claim(nodes[child].dead or repairs, segment, f"{nodes[child].step!r} did not fail")
            return True
    auditor.fail(segment, f"lists steps that were not tried from {m['state']}")
    return True


def corrects(auditor: Auditor, before: int, child: int, origin: int) -> bool:
    """The child is the corrected step of `before` (a slip listed just before it, or the one the text stands at),
    or of a step from `origin` (the listing's state) that the text wrote and a check found wrong
    (render.correction_lines, after the mistake backtrack to there)."""
    nodes = auditor.tree.nodes
    slips = (c for c in nodes[origin].children if c in auditor.visited and nodes[c].slip is not None)
    return nodes[before].repair == child or any(nodes[c].repair == child for c in slips)


def read_listing(auditor: Auditor, node_id: int, text: str) -> list[int] | None:
    """The children of the node that `text` lists, each written as the domain recomputes its step and verdict
    (attempts.attempt_words) and joined by SEPARATOR, in the order the search made them, none shown before, a slip's
    correction right after it, or first after the slip the text stands at (attempts.with_repairs: a live one with
    the value the search held by the visit the backtrack is on the way to); None when the text is not such a list."""
    nodes, visit = auditor.tree.nodes, auditor.next_visit()
    words = {}
    for child in nodes[node_id].children:
        step = nodes[child].step
        outcome = auditor.domain.apply_step(auditor.problem, auditor.states[node_id], step)
        words[child] = attempt_words(step, outcome.error, auditor.after_step(child, outcome) or "")
        if not nodes[child].dead and outcome.state is not None:
            value = auditor.tree.value_at(child, visit)
            state = auditor.domain.describe_state(auditor.problem, outcome.state)
            words[child] = repaired_words(step, None if value is None else value_text(value), state)
    listed: list[int] = []
    at, last = 0, -1  # last: the latest listed in the order made (a correction is listed after its slip)
    while at < len(text):
        start = at + len(SEPARATOR) if listed else at
        fits = [
            c
            for c, w in words.items()
            if text.startswith(w, start)
            and (start + len(w) == len(text) or text.startswith(SEPARATOR, start + len(w)))
            and (c > last or corrects(auditor, listed[-1] if listed else auditor.current, c, node_id))
            and c not in auditor.visited
            and c not in auditor.listed
            and c not in listed
        ]
        if (listed and not text.startswith(SEPARATOR, at)) or not fits:
            return None
        child = max(fits, key=lambda c: len(words[c]))
        fixes = corrects(auditor, listed[-1] if listed else auditor.current, child, node_id)
        last = last if fixes else max(last, child)
        listed.append(child)
        at = start + len(words[child])
    auditor.listed.update(listed)
    for child in listed:
        auditor.owed.pop(child, None)
        outcome = auditor.domain.apply_step(auditor.problem, auditor.states[node_id], auditor.tree.nodes[child].step)
        auditor.name_slip(auditor.names(child, outcome), text)
    return listed or None


def sentence_pattern(words: str, **fixed: str) -> str:
    """A sentence template as a regex: the fixed fields filled in, values ({v}, {w}) and every other field captured
    under its name."""
    pattern = re.escape(words)
    for name, text in fixed.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), re.escape(text))
    for name in ("v", "w"):
        pattern = pattern.replace(re.escape("{" + name + "}"), rf"(?P<{name}>\d+\.\d\d)")
    return re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m[1]}>.+?)", pattern)


ATTEMPTS_LINE = re.compile(sentence_pattern(ATTEMPTS))


def reason_words() -> list[tuple[str, str, str]]:
    """(kind, wording, template) for every reason a backtrack sentence may give (the writer's and the readers')."""
    worded = [(EXHAUSTED, EXHAUSTED, w) for w in EXHAUSTED_WORDS] + [(LOW_VALUE, LOW_VALUE, w) for w in LOW_WORDS]
    worded += [(LOW_VALUE, LOWER, w) for w in LOWER_WORDS] + [(EXPLORATION, TIE, w) for w in TIE_WORDS]
    worded += [(EXPLORATION, AHEAD, w) for w in AHEAD_WORDS] + [(EXPLORATION, ORDER, w) for w in ORDER_WORDS]
    worded += [(EXPLORATION, REASONLESS, w) for w in REASONLESS_WORDS]
    mistakes = [*MISTAKE_WORDS, *(f"{CAUGHT_BELOW} {w}" for w in MISTAKE_WORDS)]
    # with a correction first: a wrong step's {step} alone would take the correction in
    worded += [(MISTAKE, how, f"{w} {fix}") for how, fix in FIX_WORDS.items() for w in mistakes]
    return worded + [(MISTAKE, MISTAKE, w) for w in mistakes]


def go_back_patterns() -> list[re.Pattern[str]]:
    """A go-back sentence's regex per wording, the state it names captured as `back`."""
    return [re.compile(sentence_pattern(w).replace("?P<state>", "?P<back>")) for w in GO_BACK_WORDS]


def backtrack_patterns(goal_text: str) -> list[tuple[str, str, re.Pattern[str], re.Pattern[str]]]:
    """(kind, wording, reason regex, go-back regex) for every wording a backtrack sentence may take."""
    back = go_back_patterns()
    return [
        (kind, how, re.compile(sentence_pattern(w, goal=goal_text)), b) for kind, how, w in reason_words() for b in back
    ]


def backtrack(auditor: Auditor, segment: str, patterns: list) -> tuple[list[int], Callable[[int], None] | None] | None:
    """None when the segment is no backtrack; else where it may go and its claim about the next step, if any."""
    bare = next((b.fullmatch(segment) for *_, b in patterns if b.fullmatch(segment)), None)
    if bare is not None:  # no reason: only after a step that said it failed
        auditor.result.reasons[EXHAUSTED] += 1
        node = auditor.tree.nodes[auditor.current]
        ok = node.dead and not node.undecided
        auditor.claim(ok, segment, "leaves a node its check did not fail without a reason")
        return auditor.resolve_back(bare["back"], segment), None
    for kind, how, reason, back in patterns:
        m = re.fullmatch(f"{reason.pattern} {back.pattern}", segment)
        if m is None:
            continue
        auditor.result.reasons[kind] += 1
        then, wrong = None, None
        if kind == EXHAUSTED:
            head = auditor.check_exhausted(m["state"], segment)
            if head is not None:
                auditor.check_support(head, True, segment)
        elif kind == MISTAKE:
            wrong = auditor.check_mistake(m, segment)
            then = _fix(auditor, wrong, how, m, segment) if how != MISTAKE else None
        elif how == REASONLESS:
            auditor.fail(segment, "a backtrack with no reason")
        else:
            auditor.check_support(auditor.current, False, segment)
            then = _values(auditor, how, m, segment) if how != ORDER else _order(auditor, segment)
        targets = auditor.resolve_back(m["back"], segment)
        auditor.leaves_mistake(wrong, targets, segment)
        return targets, then
    return None


def _values(auditor: Auditor, how: str, m: re.Match[str], segment: str) -> Callable[[int], None] | None:
    """A value comparison: the value here is one the search held, and compares with the next step's as said, at the
    printed precision (lower, the same, or higher); low without a comparison: below LOW as printed."""
    known = auditor.known_values(auditor.current)
    auditor.claim(m["v"] in known, segment, f"the value here was {', '.join(sorted(known)) or 'none'}")
    if m.groupdict().get("w") is None:
        auditor.claim(float(m["v"]) < LOW, segment, f"{m['v']} is not a low value (< {LOW})")
        return None
    return _compared(auditor, how, m, segment)


def _compared(auditor: Auditor, how: str, m: re.Match[str], segment: str) -> Callable[[int], None]:
    """A printed value ({v}, if any) compares with the next step's ({w}) as said (lower, the same, or higher); the
    next step's value is {w}, checked there."""
    relation = {LOWER: "lower than", TIE: "the same as", AHEAD: "higher than"}.get(how)
    if relation is not None:
        v, w = float(m["v"]), float(m["w"])
        holds = {LOWER: v < w, TIE: v == w, AHEAD: v > w}[how]
        auditor.claim(holds, segment, f"rounding: {m['v']} is not {relation} {m['w']}")

    def next_value(child: int) -> None:
        auditor.claim(m["w"] in auditor.known_values(child), segment, f"the next step's value is not {m['w']}")

    return next_value


def _fix(auditor: Auditor, wrong: int | None, how: str, m: re.Match[str], segment: str) -> Callable[[int], None] | None:
    """The corrected step a mistake backtrack names (render.correction_clause): the wrong step's repair in the tree,
    as the domain corrects it, written nowhere before, with where it leads or the value the search held for it by the
    visit the backtrack is on the way to; and, checked at the next step, why that step comes first."""
    nodes, said = auditor.tree.nodes, m["fix"]
    fixed = None if wrong is None else nodes[wrong].repair
    right = None if wrong is None else auditor.corrected(wrong)
    if fixed is None or right != said or nodes[fixed].step.strip().rstrip(".") != said:
        auditor.fail(segment, f"{said!r} is not the corrected step of the wrong one in the tree")
        return None
    auditor.claim(fixed not in auditor.visited | auditor.listed, segment, f"{said!r} is written twice")
    auditor.listed.add(fixed)
    held = auditor.tree.value_at(fixed, auditor.next_visit())
    stated = m.groupdict()
    if "fixed" in stated:
        outcome = auditor.domain.apply_step(auditor.problem, auditor.states[nodes[fixed].parent], said)
        state = auditor.domain.describe_state(auditor.problem, outcome.state)
        auditor.claim(stated["fixed"] == state and not outcome.terminal, segment, f"{said!r} leads to {state}")
    if "v" in stated or how == UNSCORED:
        value = "none" if held is None else value_text(held)
        auditor.claim(value == stated.get("v", "none"), segment, f"the search held {value} for {said!r}")
    if how != ORDER:
        return _compared(auditor, how, m, segment)

    def found_before(child: int) -> None:
        auditor.claim(child < fixed, segment, f"the next step was not found before {said!r}")

    return found_before


def _order(auditor: Auditor, segment: str) -> Callable[[int], None]:
    """Steps found earlier come first: the next step was created before every step from the state left."""
    left = auditor.current

    def found_before(child: int) -> None:
        ok = found_first(auditor.tree, left, child)
        auditor.claim(ok, segment, "the next step was not found before the steps from here")

    return found_before


METACOT = TraceFormat(
    help="the search in sentences",
    render=render_metacot,
    parse=audit_sentences,
    segments=True,
)
