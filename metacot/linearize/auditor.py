"""The machinery of `metacot audit`: one record's claims checked against its saved tree and the domain, its body
read by its format's parser (see linearize.audit for what is checked).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metacot.linearize.attempts import covered, tried
from metacot.linearize.layout import texts
from metacot.linearize.reasons import CAUGHT, exhausted, reached_by, step_text, value_text
from metacot.linearize.states import Positions, check_arrival, position
from metacot.linearize.walk import skipped, walk
from metacot.problems.base import Domain, StepOutcome
from metacot.tree import ROOT, SearchTree

TAGGED = re.compile(r"<think>\n(?P<body>.*)\n</think>\n<answer> (?P<answer>.*) </answer>", re.S)
PLAIN = re.compile(r"(?P<body>.*)\nAnswer: (?P<answer>.*)", re.S)
NOT_FOUND = "I could not find"
# a format's parser: reads the body's lines (and the answer) and makes its claims through the Auditor
Parser = Callable[["Auditor", list[str], str], None]


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


class Auditor:
    """One record's audit as its format's parser (TraceFormat.parse) reads the body: where the text stands in the
    tree (current, visited, the recomputed states) and the checks every format's claims share."""

    def __init__(self, record: dict, tree: SearchTree, domain: Domain):
        self.record, self.tree, self.domain = record, tree, domain
        self.problem = domain.problem_from_dict(tree.problem)
        self.result = RecordAudit()
        self.current = ROOT
        self.visited = {ROOT}
        self.states: dict[int, Any] = {ROOT: domain.root_state(self.problem)}
        self.positions = Positions({domain.state_key(self.states[ROOT])})  # reached, and said to be exhausted
        self.listed: set[int] = set()  # failed steps an attempts line showed
        self.owed: dict[int, str] = {}  # tried steps a conclusion came before -> its sentence (check_support)
        self.named: set[int] = set()  # steps the text has called wrong (slips), each named once (name_slip)
        self.repairing: int | None = None  # a wrong step just written, whose corrected step may come next (parents)
        # each node's first visit: where the walk writes it (a slip's correction: with the slip), else in the trace;
        moves = walk(tree, tree.trace)  # its asides: a backtrack's claim about the next step is not about them
        self.first = {move.node: move.visit for move in reversed(moves) if move.kind == "step"}
        self.aside = {move.node for move in moves if move.aside}
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

    def run(self, parsers: Mapping[str, Parser | None]) -> RecordAudit:
        """The record's claims, its body read by its format's parser (parsers: each known format's, None for a
        format whose answer alone is checked)."""
        completion = texts(self.record)[1]
        m = TAGGED.fullmatch(completion) or PLAIN.fullmatch(completion)
        if m is None:
            self.fail(completion[-80:], "the completion has no answer block (<answer> </answer> or 'Answer:')")
            return self.result
        name = self.record["format"]
        parse = parsers.get(name)
        if name not in parsers:
            self.fail(name, f"not a trace format metacot knows ({', '.join(parsers)})")
        elif parse is not None:  # else its answer alone is checked
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
            where = parents[-1]  # after a wrong step, its parent: the state a step goes on from
            state = self.domain.describe_state(self.problem, self.states.get(where, nodes[where].state))
            outcome = self.domain.apply_step(self.problem, self.states.get(where), text.split(". ")[0])
            why = f"wrong step: {outcome.error}" if outcome.error else "a step the search never took"
            self.fail(sentence, f"{why} (from {state})")
            return None
        # the longest step that matches; among transposed twins (equal states, equal steps), one not written yet,
        # the one the search visited first
        order = len(self.tree.trace)
        unwritten = self.visited | self.listed
        child = max(found, key=lambda c: (len(nodes[c].step), c not in unwritten, -self.first.get(c, order)))
        self.result.claims += 1
        return child

    def parents(self, pending: list[int]) -> list[int]:
        """The nodes the next step may be taken from: where a backtrack said it goes, else where the text stands;
        after a wrong step that names its slip, its parent too, for the corrected step (checked by arrive)."""
        self.repairing = None
        if pending:
            return pending
        node = self.tree.nodes[self.current]
        self.repairing = self.current if node.dead and node.repair is not None else None
        return [self.current] if self.repairing is None else [self.current, node.parent]

    def arrive(self, child: int, sentence: str) -> Any:
        """Move to a child; the domain's outcome of its step from the recomputed parent state. A step from the parent
        of the wrong step the text stands at is its correction (the domain's, the tree's repair); none builds on one."""
        node = self.tree.nodes[child]
        self.claim(child not in self.visited and child not in self.listed, sentence, "the step is written twice")
        if self.repairing is not None and node.parent != self.current:
            self._check_repair(self.repairing, child, sentence)
        self.repairing = None
        self.not_built_on_named(child, sentence)
        self.owed.pop(child, None)  # shown now, as a new attempt after the conclusion
        if self.states[node.parent] is None:  # below a step this rule finds wrong (taken at face value by the run's)
            self.fail(sentence, "a step from no state: it builds on a step this rule finds wrong")
            outcome = StepOutcome(state=None, terminal=True, correct=False, error="no state")
        else:
            outcome = self.domain.apply_step(self.problem, self.states[node.parent], node.step)
        if outcome.slip is not None:  # taken at face value: the tree must hold the claimed state and the truth
            recorded = self.domain.describe_state(self.problem, node.state)
            claimed = self.domain.describe_state(self.problem, outcome.state)
            ok = recorded == claimed and node.slip == outcome.slip
            self.claim(ok, sentence, f"the tree recorded {recorded} and slip {node.slip!r}, not {claimed}")
        self.states[child] = outcome.state
        check_arrival(self, child, outcome, sentence)
        self.visited.add(child)
        self.current = child
        self.name_slip(self.names(child, outcome), sentence)
        return outcome

    def _check_repair(self, slip: int, child: int, sentence: str) -> None:
        wrong, corrected = self.tree.nodes[slip], self.corrected(slip)
        ok = corrected is not None and self.tree.nodes[child].step.strip() == corrected and wrong.repair == child
        self.claim(ok, sentence, f"after {wrong.step.strip()!r}, the step corrected by the domain is {corrected!r}")

    def corrected(self, node_id: int) -> str | None:
        """The domain's correction of the node's step from the recomputed state before it (Domain.correct_step)."""
        node = self.tree.nodes[node_id]
        state = self.states[node.parent]
        return None if state is None else self.domain.correct_step(self.problem, state, node.step)

    def names(self, child: int, outcome: Any) -> int | None:
        """The wrong step a step's sentence names (its own wrong result, or the one its finished path's check finds),
        recomputed by the domain; None when it names none."""
        if outcome.error is not None:
            return None if self.corrected(child) is None else child
        if not outcome.terminal:
            return None
        mistake = self.domain.first_mistake(self.problem, self.tree.steps_to(child))
        return None if mistake is None else self.tree.path_to(child)[mistake[0] + 1]

    def name_slip(self, slip: int | None, sentence: str) -> None:
        """The text calls a step wrong: once only (a slip named again was re-discovered: the text built on it)."""
        if slip is not None:
            step = self.tree.nodes[slip].step.strip()
            self.claim(slip not in self.named, sentence, f"names the wrong step {step!r} again: a re-discovered slip")
            self.named.add(slip)

    def not_built_on_named(self, node_id: int, sentence: str) -> None:
        """The node is not below a step the text has called wrong."""
        wrong = next((n for n in self.tree.path_to(node_id)[:-1] if n in self.named), None)
        if wrong is not None:
            self.fail(sentence, f"builds on {self.tree.nodes[wrong].step.strip()!r}, a step the text called wrong")

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
        if not node.terminal:  # the check of the paths below is stated here (a terminal's verdict stated it)
            self.name_slip(path[mistake[0] + 1], sentence)
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

    def called(self, name: str, node_id: int) -> bool:
        """A state's name (reasons.REACHED_BY, or the state alone) is true of the node."""
        state, step = reached_by(name)
        return self.describe(node_id) == state and step in (None, step_text(self.tree.nodes[node_id].step))

    def live(self, node_id: int) -> bool:
        """Not dead in the tree, and with a state as the domain recomputes it (a step the run's rule took at face
        value is dead under another rule)."""
        return not self.tree.nodes[node_id].dead and self.states[node_id] is not None

    def resolve_back(self, state: str, sentence: str) -> list[int]:
        """The visited nodes a backtrack naming `state` may go to (by the step that reached it, when it names one:
        reasons.REACHED_BY)."""
        found = [n for n in self.visited if self.live(n) and self.called(state, n)]
        self.claim(bool(found), sentence, f"backtrack to {state}, a state not visited earlier")
        sound = [n for n in found if not any(w in self.named for w in self.tree.path_to(n))]
        if found and not sound:
            self.not_built_on_named(found[0], sentence)
        return sound or found

    def next_visit(self) -> int:
        """The trace position of the first visit to a node the text has not written: the visit a backtrack written
        now is on the way to, as the trace's walk (linearize.walk) goes: it skips the visits below a step the search
        had found wrong by then, and those to steps the text never writes (walk.skipped)."""
        trace, at = self.tree.trace, self.unwritten
        while at < len(trace) and (trace[at] in self.visited or skipped(self.tree, trace[at], at)):
            at += 1
        self.unwritten = at
        return at

    def check_exhausted(self, head_state: str | None, sentence: str) -> int | None:
        """Some node of the branch being left (named head_state, if given) is dead, or was expanded into dead ends
        before the search went on to the visit the backtrack is on the way to (an expansion the search made later
        was not known when it left). The head of the exhausted branch, if it is."""
        path = self.tree.path_to(self.current)
        visit = self.next_visit()
        heads = [
            n
            for n in path[1:]
            if exhausted(self.tree, n, visit)
            and (head_state is None or (not self.tree.nodes[n].dead and self.describe(n) == head_state))
        ]
        if not self.claim(bool(heads), sentence, "says the branch is exhausted, but it has live steps"):
            return None
        self.positions.close(position(self, heads[-1]), heads[-1])  # the deepest: the least the sentence can mean
        return heads[-1]

    # --- shown work ---

    def shown_as(self, state: str) -> list[int]:
        """The live nodes the text has written that `state` names."""
        return sorted(n for n in self.visited if self.live(n) and self.describe(n) == state)

    def check_support(self, head: int, whole_branch: bool, sentence: str) -> None:
        """A conclusion about `head` comes after the text has shown every step the search had tried from there
        (attempts.tried) by the visit the backtrack is on the way to: for an exhausted branch (with the live states
        below it), before it; for a value, before it or later, as a new attempt (else settle fails it)."""
        visit = self.next_visit()
        for node_id in covered(self.tree, head, visit, whole_branch):
            for child in tried(self.tree, node_id, visit):
                if child in self.visited or child in self.listed:
                    continue
                if whole_branch:
                    self.fail(sentence, self._unshown(child))
                else:
                    self.owed.setdefault(child, sentence)

    def settle(self) -> None:
        """Every tried step a conclusion came before is shown later in the text (a new attempt), else the
        conclusion was unsupported."""
        for child, sentence in self.owed.items():
            self.fail(sentence, self._unshown(child))
        self.owed.clear()

    def _unshown(self, child: int) -> str:
        node = self.tree.nodes[child]
        return f"concludes about {self.describe(node.parent)} without showing the step tried from it: {node.step!r}"

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
