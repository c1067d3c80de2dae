"""The symbolic Countdown policy: proposes legal operations of its move set, optionally with plausible mistakes."""

from __future__ import annotations

import random
import re
import weakref
from collections.abc import Hashable, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import ClassVar

from metacot.policy.base import ExpandRequest, Proposal, Rollout
from metacot.policy.config import SymbolicPolicyConfig
from metacot.problems.base import Domain
from metacot.problems.countdown import Move, Number, apply_step, format_move, legal_moves
from metacot.problems.countdown.parse import exact, to_number
from metacot.tree import SearchTree

NUMBER = r"-?\d+(?:/\d+)?"
STEP = re.compile(rf"(?P<a>{NUMBER}) (?P<op>[-+*/]) (?P<b>{NUMBER}) = (?P<c>{NUMBER})")


class SymbolicCountdownPolicy:
    """Proposes distinct legal Countdown steps for a state from its move set (config.moves); needs no model.

    Asked again for a node (widening), it proposes only steps that are not already its children: fewer, or none
    once the legal moves are used up, which tells the search to stop asking. It never slips twice on the same
    operation in one search: a text that names a slip and later makes it again teaches repeating a known mistake."""

    domains: ClassVar[tuple[str, ...]] = ("countdown",)
    # It knows every legal step, so fewer proposals than asked for means there are no more, not a short reply.
    enumerates: ClassVar[bool] = True

    def __init__(self, config: SymbolicPolicyConfig | None = None, domain: Domain | None = None):
        # `domain` is part of every policy's signature; this policy knows its one domain's rules itself
        self.config = config or SymbolicPolicyConfig()
        self._rng = random.Random()  # reseeded for each request
        # tree id -> (the tree, its nodes read so far, the operations slipped on among them)
        self._slipped: dict[int, tuple[weakref.ref[SearchTree], list[int], set[Hashable]]] = {}

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        return [self._propose_one(r) for r in requests]

    def rollout(self, requests: list[ExpandRequest]) -> list[list[Rollout]]:
        """Random playouts: uniformly random steps of the move set (with the same rate of mistakes) until one number
        is left; tokens counted as the proposals' are (words)."""
        return [[self._playout(r.node.state, random.Random(r.seed + k)) for k in range(r.n)] for r in requests]

    def _playout(self, state: tuple[Number, ...] | None, rng: random.Random) -> Rollout:
        steps = []
        while state is not None and len(state) > 1:
            moves = legal_moves(state, self.config.moves)
            if not moves:  # "sos" moves from a state an LLM left with fractions or negatives can run out
                break
            move = rng.choice(moves)
            state = apply_step(state, format_move(move))  # the policy goes on from the right result even after a slip
            if self.config.mistake_rate > 0 and rng.random() < self.config.mistake_rate:
                move = self._slip(move, rng) or move
            steps.append(format_move(move))
        return Rollout(steps, tokens=sum(len(step.split()) for step in steps))

    def _propose_one(self, request: ExpandRequest) -> list[Proposal]:
        state = request.node.state
        if state is None or len(state) < 2:
            return []
        key = tuple(state), self.config.moves
        moves = list(_distinct_moves(*key))
        tried: set[str] = set()
        if request.node.children:  # asked again (widening): new steps only
            nodes = request.tree.nodes
            tried = {nodes[i].step for i in request.node.children}
            moves = [p.move for p in _move_proposals(*key) if p.text not in tried]
        rng = self._rng
        rng.seed(request.seed)  # the stream of random.Random(request.seed), without a new generator per request
        order = request.conditioning.order_moves if request.conditioning is not None else None
        legal = moves
        if order is not None:  # the sampled order, then the conditioning's preferences
            shuffled = rng.sample(moves, len(moves)) if self.config.sample else moves
            moves = order(shuffled, state, request.problem)[: request.n]
        else:
            moves = rng.sample(moves, min(request.n, len(moves))) if self.config.sample else moves[: request.n]
        if self.config.last_step_check and len(state) == 2:
            moves = _with_a_win(moves, legal, request.problem.target)
        if self.config.mistake_rate > 0:
            moves = self._with_mistakes(moves, rng, tried, self._slipped_in(request.tree))
        return [_proposal(m) for m in moves]

    def _with_mistakes(
        self, moves: list[Move], rng: random.Random, tried: set[str], slipped: set[Hashable]
    ) -> list[Move]:
        """Each move slipped at the mistake rate, unless its operation was slipped on before in this search; a move
        whose every slip is already a child is left out then."""
        out = []
        for move in moves:
            made: Move | None = move
            if rng.random() < self.config.mistake_rate and _operation(move) not in slipped:
                made = self._slip(move, rng, tried)
            if made is not None:
                out.append(made)
        return out

    def _slipped_in(self, tree: SearchTree) -> set[Hashable]:
        """The operations of the tree's steps whose result is wrong: read from the tree (so a request answers the
        same however often it is sent), each node once (kept per tree while the tree lives)."""
        entry = self._slipped.get(id(tree))
        if entry is None or entry[0]() is not tree:
            self._slipped = {k: v for k, v in self._slipped.items() if v[0]() is not None}
            entry = (weakref.ref(tree), [0], set())
            self._slipped[id(tree)] = entry
        _, read, slipped = entry
        for node in tree.nodes[read[0] :]:
            move = _claimed_move(node.step)
            if move is not None and move[3] != _result(move):
                slipped.add(_operation(move))
        read[0] = len(tree.nodes)
        return slipped

    @staticmethod
    def _slip(move: Move, rng: random.Random, tried: frozenset[str] | set[str] = frozenset()) -> Move | None:
        """The same operation with a result off by a little: a typical arithmetic mistake. Not one among the `tried`
        steps (a node's children: a repeat would be merged, and the node would look as if it had nothing new);
        None when every such mistake was tried."""
        a, op, b, result = move
        offsets: Sequence[int] = (1, 2) if exact(result) < 2 else (-2, -1, 1, 2)
        if tried:
            offsets = [d for d in offsets if _proposal((a, op, b, _off_by(result, d))).text not in tried]
            if not offsets:
                return None
        return a, op, b, _off_by(result, rng.choice(offsets))


def _with_a_win(picked: list[Move], legal: list[Move], target: int) -> list[Move]:
    """The picked moves, the last replaced by a legal move that makes the target when none of them does (a solver
    checks every combination of the last two numbers)."""
    win = next((move for move in legal if move[3] == target), None)
    if win is None or not picked or any(move[3] == target for move in picked):
        return picked
    return [*picked[:-1], win]


def _claimed_move(step: str) -> tuple[Fraction, str, Fraction, Fraction] | None:
    """'19 - 4 = 13' as (19, '-', 4, 13); None for a step of another shape (an answer, a root)."""
    m = STEP.fullmatch(step.strip())
    if m is None:
        return None
    return Fraction(m["a"]), m["op"], Fraction(m["b"]), Fraction(m["c"])


def _result(move: tuple[Fraction, str, Fraction, Fraction]) -> Fraction | None:
    """The true result of a claimed move; None for a division by zero."""
    a, op, b, _ = move
    if op == "/":
        return a / b if b else None
    return a + b if op == "+" else a - b if op == "-" else a * b


def _operation(move: Move | tuple[Fraction, str, Fraction, Fraction]) -> Hashable:
    """The operation of a move, whatever its result and its operands' order where the order does not matter."""
    a, op, b, _ = move
    return (op, *sorted((exact(a), exact(b)))) if op in "+*" else (exact(a), op, exact(b))


@lru_cache(maxsize=4096)
def _distinct_moves(state: tuple[Number, ...], moves: str) -> tuple[Move, ...]:
    """The legal moves without repeats (equal numbers make equal moves); memoized, as widening asks again for the
    same states (4096 states: a few MB)."""
    return tuple(dict.fromkeys(legal_moves(state, moves)))


@lru_cache(maxsize=1024)
def _move_proposals(state: tuple[Number, ...], moves: str) -> tuple[Proposal, ...]:
    """The proposals of _distinct_moves, in their order: what widening compares with a node's children, memoized
    because a node is widened again and again (a first expansion formats only the moves it picks)."""
    return tuple(_proposal(m) for m in _distinct_moves(state, moves))


def _off_by(result: Number, d: int) -> Number:
    """The result plus d, as a state holds it; a whole result stays an int (Fraction arithmetic is slow, and this
    runs for every slip)."""
    return result + d if type(result) is int else to_number(exact(result) + d)


@lru_cache(maxsize=4096)
def _proposal(move: Move) -> Proposal:
    """The move's step text, handed over with the move itself so that the domain need not read it back. Memoized
    for recent moves (their texts are compared with children's steps too): one Proposal per move, shared, as
    nothing changes a proposal once made."""
    text = format_move(move)
    return Proposal(text=text, tokens=len(text.split()), move=move)
