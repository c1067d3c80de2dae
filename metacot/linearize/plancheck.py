"""Plan sentences read back (linearize.plans): each checked with exact arithmetic against the numbers where the text
stands, and followed up: each subgoal made and checked where it is made, each backward chain completed, before the
run of steps ends. Both audits use it: the tree's (formats.metacot) and the reader's (reader.sentences)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from metacot.linearize.plans import CHAIN, SUBGOAL, combine, relation
from metacot.problems.countdown.parse import Number, exact, to_number

SUBGOAL_LINE = re.compile(
    r"First I'll try to get (?P<value>\d+)(?: \((?P<why>[^)]*)\))? from \[(?P<part>[^\]]*)\]"
    r"(?:; then \[(?P<then>[^\]]*)\] could still make (?P<target>-?\d+))?\."
)
CHAIN_LINE = re.compile(
    r"Working backwards, (?P<target>-?\d+) = (?P<left>\S+) (?P<op>[-+*/]) (?P<right>\S+), so I need (?P<need>\d+) "
    r"from \[(?P<rest>[^\]]*)\]\."
)
CHECK_LINE = re.compile(r"That's (?P<value>\d+), the subgoal\.")


@dataclass(frozen=True)
class PlanLine:
    """A plan sentence as read back: its habit (CHAIN, SUBGOAL, or CHECK: a subgoal made), the number it names (the
    subgoal, the chain's needed number), and what is false in it (None: nothing)."""

    kind: str
    value: Fraction
    wrong: str | None


CHECK = "check"


def read_plan(line: str, state: Sequence[Number], target: int, reachable: Callable[[Any], bool]) -> PlanLine | None:
    """A plan sentence said where the text stands at `state`, checked with exact arithmetic (a claim that the
    target can still be made, with `reachable`); None when the line is no plan sentence."""
    if m := CHECK_LINE.fullmatch(line):
        return PlanLine(CHECK, Fraction(m["value"]), None)
    here = Counter(exact(n) for n in state)
    if m := SUBGOAL_LINE.fullmatch(line):
        value, part = Fraction(m["value"]), _values(m["part"])
        wrong = _subgoal_wrong(value, part, here, m, target)
        if wrong is None and m["then"] is not None and not reachable(tuple(map(to_number, _values(m["then"])))):
            wrong = f"[{m['then']}] cannot make {target}"
        return PlanLine(SUBGOAL, value, wrong)
    if m := CHAIN_LINE.fullmatch(line):
        left, right, need = Fraction(m["left"]), Fraction(m["right"]), Fraction(m["need"])
        other = right if need == left else left
        rest = Counter(_values(m["rest"]))
        wrong = None
        if int(m["target"]) != target or combine(left, m["op"], right) != target or need not in (left, right):
            wrong = f"{m['left']} {m['op']} {m['right']} is not {target} with {m['need']} a side of it"
        elif here - Counter([other]) != rest or here[other] < 1 or sum(rest.values()) < 2:
            wrong = "the numbers are not those the text stands at"
        return PlanLine(CHAIN, need, wrong)
    return None


def _subgoal_wrong(value: Fraction, part: list[Fraction], here: Counter[Fraction], m: re.Match[str], target: int):
    """What is false in a subgoal sentence, or None."""
    if value == target or Counter(part) - here or not 2 <= len(part) < sum(here.values()):
        return "not a subgoal of the numbers the text stands at"
    if m["why"] is not None and m["why"] != relation(int(value), target):
        return f"{value} is not {m['why']}"
    then = here - Counter(part) + Counter([value])
    if m["then"] is not None and (Counter(_values(m["then"])) != then or int(m["target"]) != target):
        return "the numbers then left are not those it names"
    return None


def _values(text: str) -> list[Fraction]:
    return [Fraction(n) for n in text.split(", ")] if text else []


MADE = re.compile(r"= (?P<value>-?\d+(?:/\d+)?)$")


def made_by(step_line: str) -> Fraction | None:
    """The number a step sentence says it made ("20 / 2 = 10. Now I have [71, 10]." -> 10)."""
    m = MADE.search(step_line.partition(". ")[0].rstrip("."))
    return Fraction(m["value"]) if m else None


@dataclass
class Pursuit:
    """A reader's follow-up of the plans said on a run of steps: each subgoal made and checked where it is made,
    each backward chain's needed number made and then the target."""

    target: int
    goals: list[Fraction] = field(default_factory=list)  # subgoals said and not yet checked
    chains: list[tuple[Fraction, int]] = field(default_factory=list)  # (needed number, 0: said, 1: made, 2: done)
    last: Fraction | None = None  # the number the last step made

    def said(self, plan: PlanLine) -> str | None:
        """Note a plan sentence; what is wrong with a subgoal's check, if anything."""
        if plan.kind == CHECK:
            if not self.goals or self.goals[0] != plan.value or self.last != plan.value:
                return "checks a subgoal the last step did not make"
            self.goals.pop(0)
        elif plan.kind == SUBGOAL:
            self.goals.append(plan.value)
        else:
            self.chains.append((plan.value, 0))
        return None

    def step(self, made: Fraction | None) -> None:
        self.last = made
        self.chains = [(need, self._advance(need, got, made)) for need, got in self.chains]

    def _advance(self, need: Fraction, got: int, made: Fraction | None) -> int:
        if got == 1 and made == self.target:
            return 2
        return 1 if got == 0 and made == need else got

    def leave(self) -> str | None:
        """The run ends (a backtrack, or the end of the text): what it left unkept, if anything; then a new run."""
        unkept = [f"the subgoal {g} is never made and checked" for g in self.goals]
        unkept += [f"the backward chain needing {need} is not completed" for need, got in self.chains if got < 2]
        self.goals, self.chains, self.last = [], [], None
        return "; ".join(unkept) or None
