"""Plans woven from the path a trace then takes (numbers combined toward a target): subgoals and backward chains.

A subgoal is a number the next steps make from part of the numbers (two or more, not all), stated before them and
checked where it is made ("That's 20, the subgoal."), never the target itself. The first that is a factor or a
multiple of the target or near it (within 10, or a quarter of the target when that is more) is preferred, or on the
path that goes on to the solution one with which the others can still make the target, which the sentence then says;
else the first number the path makes at all. A backward chain
writes the target as the final step the path then makes: one number left, untouched until then, combined with a
value the other numbers (two or more) make first ("Working backwards, 47 = 61 - 14, so I need 14 from [42, 66]."). On
the path to the solution the chain is completed. Where a trace may answer wrong (`open_chains`), a path that ends one
step from a finish, short of the target, states a chain where it stands at three numbers: the one it keeps to the
end, and a value the other two would have to make, which no step from them makes; the trace then tries every step
from the two and says none makes it ("Can 70 and 28 make 89? 70 + 28 = 98, ... None of them is 89, so that way is
out."), so a chain is never stated and then dropped unsaid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from metacot.linearize.walk import Move
from metacot.problems.countdown.parse import Number, exact, format_state, to_number
from metacot.tree import ROOT, SearchTree

NEAR = 10, 4  # a subgoal within max(10, target / 4) of the target (and not equal to it) is near it
OPS = "+-*/"
CHAIN, SUBGOAL = "backward_chaining", "subgoal_setting"  # the habits, as behaviors.definitions names them


@dataclass(frozen=True)
class Made:
    """A step of the path: left op right = value, each side with the numbers of the start state it is made from."""

    left: Fraction
    op: str
    right: Fraction
    value: Fraction
    sides: tuple[tuple[Number, ...], tuple[Number, ...]]
    node: int

    @property
    def origins(self) -> tuple[Number, ...]:
        return (*self.sides[0], *self.sides[1])


@dataclass(frozen=True)
class Subgoal:
    """Make `value` from the numbers `part`; `why`: how it relates to the target; `then`: the state it leaves, said
    to be able to make the target (None: not said); `node`: the step that makes it."""

    value: int
    part: tuple[Number, ...]
    why: str | None
    then: tuple[Number, ...] | None
    node: int

    def sentence(self, target: int) -> str:
        why = f" ({self.why})" if self.why else ""
        then = f"; then {format_state(self.then)} could still make {target}" if self.then is not None else ""
        return f"First I'll try to get {self.value}{why} from {format_state(self.part)}{then}."

    def check(self) -> str:
        return f"That's {self.value}, the subgoal."


@dataclass(frozen=True)
class Chain:
    """target = left op right, where one side is a number left and `need` the other, to be made from `rest`."""

    left: Number
    op: str
    right: Number
    need: int
    rest: tuple[Number, ...]
    out: bool = False  # no step from the two numbers of `rest` makes `need`, which the trace then shows

    def sentence(self, target: int) -> str:
        return (
            f"Working backwards, {target} = {self.left} {self.op} {self.right}, "
            f"so I need {self.need} from {format_state(self.rest)}."
        )

    def tries(self) -> str | None:
        """Every step from the two numbers of a chain ruled out, and that none makes the number needed."""
        if not self.out:
            return None
        a, b = (to_number(exact(n)) for n in self.rest)
        shown = ", ".join(f"{step} = {to_number(value)}" for step, value in one_steps(exact(a), exact(b)))
        return f"Can {a} and {b} make {self.need}? {shown}. None of them is {self.need}, so that way is out."


@dataclass
class Woven:
    """The plan sentences of a trace's moves: (habit, sentence) said before a move (habit None: a chain's tries), a
    subgoal's check after one."""

    before: dict[int, list[tuple[str | None, str]]] = field(default_factory=dict)
    after: dict[int, str] = field(default_factory=dict)


def combine(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    if op == "/":
        return a / b if b else None
    return a + b if op == "+" else a - b if op == "-" else a * b


def one_steps(a: Fraction, b: Fraction) -> list[tuple[str, Fraction]]:
    """(step as written, value) of every step from two numbers, each written once, none dividing by zero."""
    found: dict[str, Fraction] = {}
    for x, op, y in ((a, "+", b), (a, "-", b), (b, "-", a), (a, "*", b), (a, "/", b), (b, "/", a)):
        value = combine(x, op, y)
        if value is not None:
            found.setdefault(f"{to_number(x)} {op} {to_number(y)}", value)
    return list(found.items())


def relation(value: int, target: int) -> str | None:
    """How a subgoal relates to the target, or None when it is no subgoal of its own."""
    if value == target or value <= 1:
        return None
    if target % value == 0:
        return f"a factor of {target}"
    if value % target == 0:
        return f"a multiple of {target}"
    if abs(value - target) <= max(NEAR[0], target / NEAR[1]):
        return f"near {target}"  # not "3 away from 54": a distance to the target reads as a check of a result
    return None


Held = tuple[Fraction, tuple[Number, ...]]  # a value and the numbers of the start state it is made from


def lineage(tree: SearchTree, start: int, path: Sequence[int]) -> tuple[list[Made], list[Held] | None]:
    """The path's steps from `start` with where each value comes from, up to a step the numbers do not explain (a
    wrong result, or one that gives back an operand); and the values held at its end (None: not explained)."""
    held: list[Held] = [(exact(n), (n,)) for n in tree.nodes[start].state]
    made: list[Made] = []
    for node_id in path:
        if tree.nodes[node_id].state is None:  # an illegal step
            return made, None
        values = Counter(exact(n) for n in tree.nodes[node_id].state)
        now = Counter(v for v, _ in held)
        gone, new = now - values, values - now
        if sum(gone.values()) != 2 or sum(new.values()) != 1:
            return made, None
        taken: list[int] = []
        for gone_value in gone.elements():
            taken.append(next(k for k, (v, _) in enumerate(held) if v == gone_value and k not in taken))
        a, b = held[taken[0]], held[taken[1]]
        value = next(iter(new))
        found = next(((x, op, y) for x, y in ((a, b), (b, a)) for op in OPS if combine(x[0], op, y[0]) == value), None)
        if found is None:
            return made, None
        x, op, y = found
        held = [h for k, h in enumerate(held) if k not in taken] + [(value, (*x[1], *y[1]))]
        made.append(Made(x[0], op, y[0], value, (x[1], y[1]), node_id))
    return made, held


def _without(state: Sequence[Number], taken: Sequence[Number]) -> tuple[Number, ...]:
    """The state's numbers, in order, less those taken (by value)."""
    left = Counter(exact(n) for n in taken)
    kept = []
    for n in state:
        if left[exact(n)]:
            left[exact(n)] -= 1
        else:
            kept.append(n)
    return tuple(kept)


def subgoal(
    tree: SearchTree,
    start: int,
    path: Sequence[int],
    target: int,
    claims: bool,
    reachable: Callable[[Any], bool],
    plain: bool = True,
) -> Subgoal | None:
    """The first number the path makes from part of the start's numbers (no other number touched on the way, none
    of them the number itself) that relates to the target, or (claims: the path goes on to the solution) with which
    the numbers then left can still make it; else (plain) the first such number at all."""
    state = tree.nodes[start].state
    first = None
    for made in lineage(tree, start, path)[0]:
        node = tree.nodes[made.node]
        part = _without(state, _without(state, made.origins))
        whole = made.value.denominator == 1 and made.value != target and made.value not in map(exact, part)
        alone = len(node.state) == len(state) - len(part) + 1  # no other number touched on the way
        if node.terminal or not (whole and alone and 2 <= len(part) < len(state)):
            continue
        why = relation(int(made.value), target)
        then = tuple(node.state) if claims and reachable(node.state) else None
        goal = Subgoal(int(made.value), part, why, then, made.node)
        if why is not None or then is not None:
            return goal
        first = first or goal
    return first if plain else None


def chain(
    tree: SearchTree, start: int, path: Sequence[int], target: int, open_chains: bool
) -> tuple[int, Chain] | None:
    """(where to state it, the chain) of a path that ends at the target: the first node on it, from `start` on, whose
    numbers (three or more) the final step combines as one of them, untouched, and a value made from all the others;
    or (open_chains) of a path that ends at a state one step from a finish: its node of three numbers, one of them
    kept untouched to the end, and a chain of it the other two cannot make in one step (_open)."""
    end = tree.nodes[path[-1]]
    for depth in range(len(path)):
        here = start if depth == 0 else path[depth - 1]
        state = tree.nodes[here].state
        made, held = lineage(tree, here, path[depth:]) if state is not None else ([], None)
        if state is None or len(state) < 3 or held is None:
            return None
        if end.terminal:
            found = next((c for side in (0, 1) if (c := _final(made[-1], side, state, target))), None)
        else:
            found = _open(held, state, target) if open_chains and len(held) == 2 and len(state) == 3 else None
        if found is not None:
            return here, found
    return None


def _final(last: Made, side: int, state: Sequence[Number], target: int) -> Chain | None:
    """The chain of a final step that reaches the target, whose side `side` is one number of `state`, untouched."""
    if len(last.sides[side]) != 1 or last.value != target:
        return None
    return _chain(last.sides[side][0], last.op, side, last.right if side == 0 else last.left, state, target)


def _open(held: list[Held], state: Sequence[Number], target: int) -> Chain | None:
    """At three numbers, of the two values the path ends with, one a number of `state` untouched: the chain of that
    number whose needed value no step from the other two numbers makes, the one nearest the value they made."""
    ends = [(h, o) for h, o in held if len(o) == 1]
    if len(ends) != 1:
        return None
    kept, made = ends[0][1][0], next(v for v, o in held if len(o) != 1)
    rest = _without(state, (kept,))
    reach = {value for _, value in one_steps(*map(exact, rest))}
    options = [
        replace(c, out=True)
        for op in OPS
        for side in (0, 1)
        if (c := _chain(kept, op, side, _solve(exact(kept), op, side, Fraction(target)), state, target))
        and c.need not in reach
    ]
    return min(options, key=lambda c: abs(c.need - made), default=None)


def _chain(
    kept: Number, op: str, side: int, need: Fraction | None, state: Sequence[Number], target: int
) -> Chain | None:
    """target = kept op need (side 0) or need op kept (side 1), when the need is a whole number above 0 and not the
    target."""
    if need is None or need.denominator != 1 or need <= 0 or need == target:
        return None
    left, right = (kept, to_number(need)) if side == 0 else (to_number(need), kept)
    return Chain(left, op, right, int(need), _without(state, (kept,)))


def _solve(kept: Fraction, op: str, side: int, target: Fraction) -> Fraction | None:
    """The other side of `target = kept op x` (side 0) or `target = x op kept` (side 1)."""
    if op == "+":
        return target - kept
    if op == "*":
        return target / kept if kept else None
    if op == "-":
        return kept - target if side == 0 else target + kept
    if side == 0:
        return kept / target if target else None
    return target * kept


def segments(moves: Sequence[Move]) -> Iterator[tuple[int, int, list[int]]]:
    """(index of its first move, the node it starts from, the nodes it steps through) of each run of steps."""
    here, first, path = ROOT, 0, list[int]()
    for i, move in enumerate(moves):
        if move.kind == "backtrack":
            if path:
                yield first, here, path
            here, first, path = move.node, i + 1, []
        else:
            path.append(move.node)
    if path:
        yield first, here, path


def weave(
    tree: SearchTree,
    target: int,
    moves: Sequence[Move],
    solution: int | None,
    habits: tuple[bool, bool],
    reachable: Callable[[Any], bool],
    open_chains: bool = False,
    plain: bool = True,
) -> Woven:
    """The plans of each run of steps: (backward chains, subgoals) as `habits` asks. A subgoal where the run makes
    one (its claim that the target can still be made only on the run that reaches `solution`; one that does not
    relate to the target only with `plain`), a chain where the run ends at a finished step: on the run to the
    solution, or on any run with `open_chains`."""
    woven = Woven()
    chains, goals = habits
    for first, start, path in segments(moves):
        final = solution is not None and path[-1] == solution
        steps = [n for k, n in enumerate(path) if tree.nodes[n].state is not None or path[k + 1 :][:1] != [
            tree.nodes[n].repair]]  # fmt: skip  # a slip its correction follows: the run goes on from the correction
        if chains and (final or open_chains) and (found := chain(tree, start, steps, target, open_chains)):
            here, stated = found
            at = first if here == start else first + path.index(here) + 1
            woven.before.setdefault(at, []).append((CHAIN, stated.sentence(target)))
            if (tries := stated.tries()) is not None:
                woven.before[at].append((None, tries))
        if goals and (goal := subgoal(tree, start, steps, target, final, reachable, plain)):
            woven.before.setdefault(first, []).append((SUBGOAL, goal.sentence(target)))
            woven.after[first + path.index(goal.node)] = goal.check()
    return woven

