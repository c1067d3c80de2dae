"""Check every claim a record's completion makes against its saved tree and the domain: `metacot audit`.

The checker reads the completion text: it splits it into the domain's steps, finds each step among the tree's
children of the state it stands on, recomputes what the step gives with the domain (not the stored state), and
parses backtracks with the sentence templates of linearize.reasons. What it checks: each step's arithmetic and
"Now I have", each verdict, each backtrack's target (visited earlier, named by its true state), each reason
(exhausted: the branch really is dead; low value: the stated values are the search's and ordered as said;
nothing said to be exhausted is resumed later), each value line, and the answer (domain.check_answer).
The domain is the run's own (RunDir.domain()), with its rule for wrong results: under notice = "when-found" a wrong
step's "Now I have" is the state with the claimed result, as the tree recorded it, and every finished path is
checked by the domain's verification of the whole path (Domain.first_mistake): the verdict must name its first
wrong step, and a mistake reason must name that step too; a path with a wrong step is never verified or solved.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from metacot.linearize.audit_paper import audit_paper
from metacot.linearize.layout import texts
from metacot.linearize.reasons import (
    CAUGHT,
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
    exhausted,
    value_text,
)
from metacot.problems.base import Domain
from metacot.problems.verdicts import keeping
from metacot.tree import ROOT, SearchTree

TAGGED = re.compile(r"<think>\n(?P<body>.*)\n</think>\n<answer> (?P<answer>.*) </answer>", re.S)
PLAIN = re.compile(r"(?P<body>.*)\nAnswer: (?P<answer>.*)", re.S)
TOKEN = re.compile(
    r"<(?P<tag>step|verify|value)> (?P<text>.*)|<backtrack to=(?P<path>[\d.]+) reason=(?P<kind>\w+)> (?P<state>.*)"
)
NOT_FOUND = "I could not find"


@dataclass(frozen=True)
class Failure:
    """A false or unverifiable claim: where, the sentence, and what is wrong with it."""

    problem_id: str
    format: str
    sentence: str
    message: str


@dataclass
class RecordAudit:
    claims: int = 0
    failures: list[Failure] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)  # backtracks by the reason the text gives


def audit_record(record: dict, tree: SearchTree, domain: Domain) -> RecordAudit:
    """Every claim of one record, checked against its tree (its answers' verdicts as the tree keeps them)."""
    with keeping(tree.verdicts):
        return _Auditor(record, tree, domain).run()


@dataclass
class FormatAudit:
    records: int = 0
    claims: int = 0
    failures: list[Failure] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)


def audit_records(pairs: Iterator[tuple[dict, SearchTree]], domain: Domain) -> FormatAudit:
    result = FormatAudit()
    for record, tree in pairs:
        checked = audit_record(record, tree, domain)
        result.records += 1
        result.claims += checked.claims
        result.failures += checked.failures
        result.reasons += checked.reasons
    return result


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
    reasons = [(EXHAUSTED, w) for w in EXHAUSTED_WORDS] + [(LOW_VALUE, w) for w in LOW_WORDS + LOWER_WORDS]
    reasons += [(EXPLORATION, w) for w in EXPLORATION_WORDS] + [(MISTAKE, w) for w in MISTAKE_WORDS]
    reasons += [(MISTAKE, f"{CAUGHT_BELOW} {w}") for w in MISTAKE_WORDS]
    back = [re.compile(_template(w).replace("?P<state>", "?P<back>")) for w in GO_BACK_WORDS]
    return [(kind, re.compile(_template(w, goal=goal_text)), b) for kind, w in reasons for b in back]


class _Auditor:
    def __init__(self, record: dict, tree: SearchTree, domain: Domain):
        self.record, self.tree, self.domain = record, tree, domain
        self.problem = domain.problem_from_dict(tree.problem)
        self.result = RecordAudit()
        self.current = ROOT
        self.visited = {ROOT}
        self.states: dict[int, Any] = {ROOT: domain.root_state(self.problem)}
        self.closed: list[int] = []  # heads of branches said to be exhausted
        self.first: dict[int, int] = {}
        for i, node_id in enumerate(tree.trace):
            self.first.setdefault(node_id, i)
        self.unwritten = 0  # no trace visit before this position goes to a node the text has not written yet

    def fail(self, sentence: str, message: str) -> None:
        self.result.failures.append(Failure(self.tree.problem_id, self.record["format"], sentence, message))

    def claim(self, ok: bool, sentence: str, message: str) -> bool:
        self.result.claims += 1
        if not ok:
            self.fail(sentence, message)
        return ok

    def run(self) -> RecordAudit:
        completion = texts(self.record)[1]
        m = TAGGED.fullmatch(completion) or PLAIN.fullmatch(completion)
        if m is None:
            self.fail(completion[-80:], "the completion has no answer block (<answer> </answer> or 'Answer:')")
            return self.result
        parse = PARSERS.get(self.record["format"])
        if parse is not None:
            body = m["body"]
            lines = body.split(self.domain.step_delimiter) if body else []  # how every format joins its lines
            parse(self, lines, m["answer"])
        self._answer(m["answer"])
        return self.result

    # --- the answer ---

    def _answer(self, answer: str) -> None:
        if self.record["correct"]:
            ok = self.domain.check_answer(self.problem, answer)
            self.claim(ok, answer, "the answer does not check out (domain.check_answer)")
        else:
            self.claim(answer.startswith(NOT_FOUND), answer, f"an unsolved record's answer must say '{NOT_FOUND} ...'")

    # --- shared checks ---

    def value(self, node_id: int) -> float | None:
        return self.tree.value_at(node_id, self.first.get(node_id, len(self.tree.trace)))

    def values_before(self, node_id: int, index: int) -> list[float]:
        """The values the search held for the node at its trace visits before position `index`, and just before
        it."""
        held = [self.tree.value_at(node_id, i) for i, n in enumerate(self.tree.trace[:index]) if n == node_id]
        return [v for v in [*held, self.tree.value_at(node_id, index - 1)] if v is not None]

    def known_values(self, node_id: int) -> set[str]:
        """Every value the search held for the node at some time."""
        values = {self.tree.value_at(node_id, i) for i, n in enumerate(self.tree.trace) if n == node_id}
        values.add(self.value(node_id))
        return {value_text(v) for v in values if v is not None}

    def step_to(self, parents: list[int], text: str, sentence: str, exact: bool) -> int | None:
        """The child of one of `parents` the text is the step of (exact, or as the sentence's start)."""
        nodes = self.tree.nodes
        found = []
        for parent in parents:
            for child in nodes[parent].children:
                step = nodes[child].step.strip()
                if text == step if exact else text == step.rstrip(".") or text.startswith(step.rstrip(".") + "."):
                    found.append(child)
        if not found:
            state = self.domain.describe_state(self.problem, self.states.get(parents[0], nodes[parents[0]].state))
            outcome = self.domain.apply_step(self.problem, self.states.get(parents[0]), text.split(". ")[0])
            why = f"wrong step: {outcome.error}" if outcome.error else "a step the search never took"
            self.fail(sentence, f"{why} (from {state})")
            return None
        # the longest step that matches; among transposed twins (equal states, equal steps), one not written yet,
        # the one the search visited first
        order = len(self.tree.trace)
        child = max(found, key=lambda c: (len(nodes[c].step), c not in self.visited, -self.first.get(c, order)))
        self.result.claims += 1
        return child

    def arrive(self, child: int, sentence: str) -> Any:
        """Move to a child; the domain's outcome of its step from the recomputed parent state."""
        node = self.tree.nodes[child]
        self.claim(child not in self.visited, sentence, "the step is written twice")
        outcome = self.domain.apply_step(self.problem, self.states[node.parent], node.step)
        for head in self.closed:
            if head in self.tree.path_to(child) and not node.dead:
                self.fail(sentence, f"goes on from {self.describe(head)}, which the trace said was exhausted")
        if outcome.slip is not None:  # taken at face value: the tree must hold the claimed state and the truth
            recorded = self.domain.describe_state(self.problem, node.state)
            claimed = self.domain.describe_state(self.problem, outcome.state)
            ok = recorded == claimed and node.slip == outcome.slip
            self.claim(ok, sentence, f"the tree recorded {recorded} and slip {node.slip!r}, not {claimed}")
        self.states[child] = outcome.state
        self.visited.add(child)
        self.current = child
        return outcome

    def after_step(self, child: int, outcome: Any) -> str | None:
        """What the trace must say after a step that ends a path (its check), recomputed; None for other steps."""
        if outcome.error is not None:
            return outcome.error
        if not outcome.terminal:
            return None
        mistake = self.domain.first_mistake(self.problem, self.tree.steps_to(child))
        if mistake is not None:
            return CAUGHT.format(why=mistake[1])
        return self.domain.verdict(self.problem, outcome.state, outcome.correct)

    def check_mistake(self, m: re.Match[str] | None, sentence: str) -> int | None:
        """The trace leaves a finished path, or a node below which the search verified finished paths, whose
        verification finds a wrong step; the sentence's step, check and state (if it names them) are that step's,
        recomputed by the domain. The wrong step's node, for the backtrack to leave its subtree."""
        node = self.tree.nodes[self.current]
        stated = m.groupdict() if m is not None else {}
        if stated.get("state") is not None:
            self.claim(stated["state"] == self.describe(node.id), sentence, f"this is {self.describe(node.id)}")
        elif not node.terminal and m is not None:
            self.fail(sentence, "names a mistake after a step that did not finish a path, without the check")
            return None
        mistake = self.mistake_found()
        if mistake is None:
            self.fail(sentence, "names a mistake, but no finished path verified here holds one")
            return None
        path = self.tree.path_to(self.current)
        wrong = self.tree.nodes[path[mistake[0] + 1]].step.strip().rstrip(".")
        ok = stated.get("step") in (None, wrong) and stated.get("why") in (None, mistake[1])
        self.claim(ok, sentence, f"the first wrong step of the path is {wrong!r}: {mistake[1]}")
        return path[mistake[0] + 1]

    def mistake_found(self) -> tuple[int, str] | None:
        """The first wrong step (index on the path, why) that the verification of a finished path at or below the
        current node finds above it, recomputed by the domain; None when there is none."""
        below = self._subtree(self.current)
        finished = [n for n in below if self.tree.nodes[n].terminal and self.tree.nodes[n].error is None]
        if not finished:
            return None
        mistake = self.domain.first_mistake(self.problem, self.tree.steps_to(finished[0]))
        if mistake is None or mistake[0] >= self.tree.nodes[self.current].depth:
            return None
        return mistake

    def leaves_mistake(self, wrong: int | None, targets: list[int], sentence: str) -> None:
        """After a mistake is named, the trace goes back to a node above the wrong step, not below it."""
        if wrong is not None:
            ok = any(wrong not in self.tree.path_to(t) for t in targets)
            self.claim(ok, sentence, "names a mistake, then goes back below the wrong step")

    def _subtree(self, node_id: int) -> list[int]:
        """The node and the nodes below it that the search expanded into (as saved)."""
        found, stack = [], [node_id]
        while stack:
            found.append(stack.pop())
            if self.tree.nodes[found[-1]].expanded:
                stack += self.tree.nodes[found[-1]].children
        return found

    def describe(self, node_id: int) -> str:
        """The node's state as recomputed; a step this rule finds wrong (taken at face value by the run's rule)
        leaves no state, and no sentence can name one."""
        state = self.states[node_id]
        return "no state" if state is None else self.domain.describe_state(self.problem, state)

    def live(self, node_id: int) -> bool:
        """Not dead in the tree, and with a state as the domain recomputes it (a step the run's rule took at face
        value is dead under another rule)."""
        return not self.tree.nodes[node_id].dead and self.states[node_id] is not None

    def resolve_back(self, state: str, sentence: str) -> list[int]:
        """The visited nodes a backtrack naming `state` may go to."""
        found = [n for n in self.visited if self.live(n) and self.describe(n) == state]
        self.claim(bool(found), sentence, f"backtrack to {state}, a state not visited earlier")
        return found

    def next_visit(self) -> int:
        """The trace position of the first visit to a node the text has not written: the visit a backtrack written
        now is on the way to, as the trace's walk (linearize.walk) goes."""
        trace = self.tree.trace
        while self.unwritten < len(trace) and trace[self.unwritten] in self.visited:
            self.unwritten += 1
        return self.unwritten

    def check_exhausted(self, head_state: str | None, sentence: str) -> None:
        """Some node of the branch being left (named head_state, if given) is dead, or was expanded into dead ends
        before the search went on to the visit the backtrack is on the way to (an expansion the search made later
        was not known when it left)."""
        path = self.tree.path_to(self.current)
        visit = self.next_visit()
        heads = [
            n
            for n in path[1:]
            if exhausted(self.tree, n, visit)
            and (head_state is None or (not self.tree.nodes[n].dead and self.describe(n) == head_state))
        ]
        if self.claim(bool(heads), sentence, "says the branch is exhausted, but it has live steps"):
            self.closed.append(heads[-1])  # the deepest: the least the sentence can mean

    # --- the metacot and cot formats ---

    def _sentences(self, segments: list[str]) -> None:
        patterns = backtrack_patterns(self.domain.goal(self.problem))
        pending: list[int] = []  # where a backtrack said it goes
        better: tuple[str, str] | None = None  # a low-value claim's "looks better (w)", checked at the next step
        last = ROOT
        for segment in segments:
            if segment.startswith("Value: "):
                held = self.value(last)
                expect = value_text(held) if held is not None else "none"
                self.claim(segment[7:] == expect, segment, f"the value is {expect}")
                continue
            back = self._backtrack(segment, patterns)
            if back is not None:
                pending, better = back
                if not pending:  # gone back to no known state: the rest cannot be followed
                    return
                continue
            child = self.step_to(pending or [self.current], segment, segment, exact=False)
            if child is None:
                return
            if better is not None:
                self.claim(
                    better[0] in self.known_values(child), better[1], f"the next step's value is not {better[0]}"
                )
            pending, better = [], None
            outcome = self.arrive(child, segment)
            expected = self.sentence(child, outcome)
            self.claim(segment == expected, segment, f"the step gives: {expected!r}")
            last = child

    def sentence(self, child: int, outcome: Any) -> str:
        """The sentence a step must be written as, from the domain's outcome of it (recomputed)."""
        step = self.tree.nodes[child].step.strip().rstrip(".")
        after = self.after_step(child, outcome)
        if outcome.error is not None:
            return f"{step}. Wait, that's wrong: {outcome.error}."
        if after is not None:
            return f"{step}. {after}"
        note = self.domain.step_note(self.problem, outcome.state)
        return f"{step}. {note}" if note else f"{step}."

    def _backtrack(self, segment: str, patterns: list) -> tuple[list[int], tuple[str, str] | None] | None:
        """None when the segment is no backtrack; else where it may go and a pending 'looks better' claim."""
        bare = next((b.fullmatch(segment) for _, _, b in patterns if b.fullmatch(segment)), None)
        if bare is not None:  # no reason: only after a step that said it failed
            self.result.reasons[EXHAUSTED] += 1
            node = self.tree.nodes[self.current]
            self.claim(
                node.dead and not node.undecided, segment, "leaves a node its check did not fail without a reason"
            )
            return self.resolve_back(bare["back"], segment), None
        for kind, reason, back in patterns:
            m = re.fullmatch(f"{reason.pattern} {back.pattern}", segment)
            if m is None:
                continue
            self.result.reasons[kind] += 1
            better, wrong = None, None
            if kind == EXHAUSTED:
                self.check_exhausted(m["state"], segment)
            elif kind == MISTAKE:
                wrong = self.check_mistake(m, segment)
            elif kind == LOW_VALUE:
                known = self.known_values(self.current)
                self.claim(m["v"] in known, segment, f"the value here was {', '.join(sorted(known)) or 'none'}")
                if "w" in m.groupdict() and m["w"] is not None:
                    self.claim(float(m["v"]) < float(m["w"]), segment, "the compared value is not higher")
                    better = (m["w"], segment)
                else:
                    self.claim(float(m["v"]) < LOW, segment, f"{m['v']} is not a low value (< {LOW})")
            targets = self.resolve_back(m["back"], segment)
            self.leaves_mistake(wrong, targets, segment)
            return targets, better
        return None

    # --- the tokens format ---

    def _tokens(self, lines: list[str]) -> None:
        by_path = {n.path: n.id for n in self.tree.nodes}
        pending: list[int] = []
        low: str | None = None
        for line in lines:
            m = TOKEN.fullmatch(line)
            if m is None:
                self.fail(line, "not a line of the tokens format")
                return
            if m["path"] is not None:
                pending, low = self._token_backtrack(m, by_path, line)
                if not pending:
                    return
            elif m["tag"] == "step":
                child = self.step_to(pending or [self.current], m["text"], line, exact=True)
                if child is None:
                    return
                if low is not None:  # the value held when the trace left (a node visited again held several)
                    nxt = self.value(child)
                    values = self.values_before(self.current, self.first.get(child, len(self.tree.trace)))
                    ok = any(v < LOW or (nxt is not None and v < nxt) for v in values)
                    self.claim(ok, low, "leaves for low value, but its value is neither low nor below the next")
                pending, low = [], None
                self.arrive(child, line)
            elif m["tag"] == "verify":
                node = self.tree.nodes[self.current]
                outcome = self.domain.apply_step(self.problem, self.states[node.parent], node.step)
                verdict = self.after_step(node.id, outcome)
                if verdict is None:  # a check of the finished paths below, before a mistake backtrack
                    mistake = self.mistake_found()
                    verdict = mistake and CAUGHT_BELOW.format(state=self.describe(node.id), why=mistake[1])
                self.claim(m["text"] == verdict, line, f"the check gives: {verdict!r}")
            else:
                expected = self.value(self.current)
                expect = value_text(expected) if expected is not None else "none"
                self.claim(m["text"] == expect, line, f"the value is {expect}")

    def _token_backtrack(self, m: re.Match[str], by_path: dict[str, int], line: str) -> tuple[list[int], str | None]:
        target = by_path.get(m["path"])
        if not self.claim(target in self.visited, line, f"backtrack to {m['path']}, a node not visited earlier"):
            return [], None
        assert target is not None
        self.result.reasons[m["kind"]] += 1
        true_state = self.describe(target)
        self.claim(m["state"] == true_state, line, f"that node's state is {true_state}")
        if m["kind"] == EXHAUSTED:
            self.check_exhausted(None, line)
        elif m["kind"] == MISTAKE:
            self.leaves_mistake(self.check_mistake(None, line), [target], line)
        elif m["kind"] not in (LOW_VALUE, EXPLORATION):
            self.fail(line, f"unknown reason {m['kind']!r}")
        return [target], line if m["kind"] == LOW_VALUE else None


# The formats whose every sentence is checked, by their parsers: (auditor, the body's lines, the answer) -> None.
# The others: the answer only.
PARSERS: dict[str, Callable[[_Auditor, list[str], str], None]] = {
    "metacot": lambda auditor, lines, _: auditor._sentences(lines),
    "cot": lambda auditor, lines, _: auditor._sentences(lines),
    "tokens": lambda auditor, lines, _: auditor._tokens(lines),
    "paper": audit_paper,
}
