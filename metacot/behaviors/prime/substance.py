"""Whether a priming record's habits are there in substance, read from its text alone with exact arithmetic (no tree):
subgoals the next steps make, backward chains completed (or pursued, in a wrong answer), one-step wins left behind.

The text is read line by line as Countdown priming traces write it: steps ("8 + 12 = 20. Now I have [..]."),
go-backs to a named state, subgoals ("First I'll try to get 20 from [8, 12]..."), backward chains ("Working
backwards, 61 = 71 - 10, so I need 10 from [8, 2, 12]."). A run of lines between two go-backs is one path.
- a subgoal is pursued when a step of its path, after it, makes its number;
- a backward chain is completed when a step of its path, after it, makes the needed number and a later one the
  target; pursued when it is completed or ruled out: a line of its path tries every step from the two numbers it
  needs them from ("Can 70 and 28 make 89? ...") and, by exact arithmetic, none of them makes the needed number;
- a one-step win is left behind where the text shows two numbers that make the target in one operation and never
  writes that step from them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from itertools import permutations

from metacot.linearize.plans import OPS, combine, one_steps

NUMBER = r"-?\d+(?:/\d+)?"
STEP = re.compile(rf"(?P<a>{NUMBER}) (?P<op>[-+*/]) (?P<b>{NUMBER}) = (?P<r>{NUMBER})\.")
SUBGOAL = re.compile(r"First I'll try to get (?P<value>\d+)\b")
CHAIN = re.compile(
    rf"Working backwards, -?\d+ = (?P<left>{NUMBER}) (?P<op>[-+*/]) (?P<right>{NUMBER}), so I need (?P<need>\d+) from"
    r" \[(?P<rest>[^\]]*)\]"
)
TRIES = re.compile(rf"Can (?P<a>{NUMBER}) and (?P<b>{NUMBER}) make (?P<need>\d+)\? .*None of them is (?P=need)\b")
GO_BACK = re.compile(r"(?:go back to|return to|Going back to|pick up again from) \[(?P<state>[^\]]*)\]")


@dataclass
class Substance:
    """One record's plans and what became of them, and the one-step wins its text leaves behind."""

    subgoals: int = 0
    pursued: int = 0
    chains: int = 0
    completed: int = 0
    chains_pursued: int = 0
    win_skips: int = 0

    def add(self, other: Substance) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Plan:
    kind: str  # "subgoal" or "chain"
    value: Fraction  # the subgoal's number, the chain's needed number
    made: bool = False
    done: bool = False  # the chain: the target made after the needed number
    rest: Counter[Fraction] | None = None  # the chain: the numbers it needs its number from
    out: bool = False  # the chain: ruled out, every step from its two numbers tried and none making it

    def step(self, result: Fraction, target: int) -> None:
        """A step of its path made `result`."""
        self.done |= self.made and result == target
        self.made |= result == self.value

    def rule_out(self, a: Fraction, b: Fraction, need: Fraction) -> None:
        """A line tries every step from a and b for `need`: the chain is ruled out when they and `need` are its own
        and no step from them makes it."""
        tried = Counter([a, b]) == self.rest and need == self.value
        tried &= all(value != need for _, value in one_steps(a, b))
        self.out |= self.kind == "chain" and tried


def numbers(text: str) -> list[Fraction]:
    return [Fraction(n) for n in text.split(", ")] if text.strip() else []


def wins(state: Counter[Fraction], target: int) -> bool:
    """Two numbers that make the target in one operation."""
    if sum(state.values()) != 2:
        return False
    a, b = state.elements()
    return any(combine(x, op, y) == target for x, y in permutations((a, b)) for op in OPS)


def read_substance(think: str, start: list[int], target: int) -> Substance:
    """What became of the plans of one think block, and the one-step wins it leaves behind."""
    found = Substance()
    state = Counter(Fraction(n) for n in start)
    shown = [state.copy()]
    taken: set[tuple[Fraction, ...]] = set()  # the states a step to the target is written from
    plans: list[_Plan] = []
    finished: list[_Plan] = []
    for line in think.split("\n"):
        if back := GO_BACK.search(line):
            finished += plans
            plans, state = [], Counter(numbers(back["state"]))
            shown.append(state.copy())
        elif m := CHAIN.match(line):
            plans.append(_Plan("chain", Fraction(m["need"]), rest=Counter(numbers(m["rest"]))))
        elif (m := TRIES.match(line)) and plans:
            plans[-1].rule_out(Fraction(m["a"]), Fraction(m["b"]), Fraction(m["need"]))
        elif m := SUBGOAL.match(line):
            plans.append(_Plan("subgoal", Fraction(m["value"])))
        elif m := STEP.match(line):
            a, b, r = Fraction(m["a"]), Fraction(m["b"]), Fraction(m["r"])
            if r == target:
                taken.add(tuple(sorted(state.elements())))
            state = state - Counter([a, b]) + Counter([r])
            shown.append(state.copy())
            for plan in plans:
                plan.step(r, target)
    finished += plans
    for plan in finished:
        if plan.kind == "subgoal":
            found.subgoals += 1
            found.pursued += plan.made
        else:
            found.chains += 1
            found.completed += plan.made and plan.done
            found.chains_pursued += (plan.made and plan.done) or plan.out
    left = {tuple(sorted(s.elements())) for s in shown if wins(s, target)} - taken
    found.win_skips = len(left)
    return found
