"""What a search strategy is: a generator of Expand / Score requests over a tree, and a validated config.

A strategy never calls a model. It yields requests and receives the answers from the runner:

    children = yield Expand(node, n)                 # up to n new children of node
    per_node = yield [Expand(a, 2), Expand(b, 1)]    # a round of expansions: one list of children per request
    scores = yield Score(children)                   # PRM scores, also stored on the nodes
    keys = yield StateKeys(children)                 # the domain's position keys (answered at once, no backend)
    if goal_test(tree, children, config.stop_at_first_solution):   # a verified-correct child: visited; the end
        return

Strategies import this module, budget and tree only, never the runner (which imports the backends).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from metacot.checks import at_least as at_least  # re-exported: strategies import the protocol only
from metacot.checks import one_of as one_of
from metacot.search.budget import Budget, ComputeTarget
from metacot.tree import Node, SearchTree


@dataclass(slots=True)
class Expand:
    """A search asks for up to n children of node; it receives the list of new child nodes.

    A search may also yield a list of Expand requests for distinct nodes (a round of expansions, e.g. N
    best-of-N chains advancing in lockstep); it then receives one list of new children per request, in order.
    """

    node: Node
    n: int


@dataclass(slots=True)
class Score:
    """A search asks for PRM scores of nodes; it receives the scores (also stored on the nodes)."""

    nodes: list[Node]


@dataclass(slots=True)
class StateKeys:
    """A search asks for the domain's state keys of nodes (Domain.state_key: equal for the same position reached
    by different steps); it receives one key per node, None for a node without a state (a dead step) or where the
    domain takes no two states for each other. The runner answers at once, without a backend call."""

    nodes: list[Node]


Request = Expand | list[Expand] | Score | StateKeys
# What every strategy function returns: it yields requests, receives their answers, and leaves its product in the tree.
SearchGen = Generator[Request, Any, None]
Search = Callable[[SearchTree], SearchGen]

C = TypeVar("C", bound="StrategyConfig")


def goal_test(tree: SearchTree, children: list[Node], stop: bool) -> bool:
    """The goal test every strategy makes where an expansion creates children (all of one node), never where a node
    is taken up later, so a search never leaves a node for another while it holds a solution there. The
    verified-correct children are visited now; with `stop` (stop_at_first_solution) only the first, and the answer is
    True: the search ends at it. Without `stop` the search goes on after visiting them all."""
    solutions = [c for c in children if c.correct]
    for solution in solutions[:1] if stop else solutions:
        tree.visit(solution)
    return stop and bool(solutions)


def goal_test_round(tree: SearchTree, expanded: list[Node], children: list[list[Node]], stop: bool) -> bool:
    """The goal test of a round of expansions (beam search expands a level's nodes together): each node is visited
    where it was expanded, in the order asked, then its verified children (goal_test). With `stop` the trace ends at
    the first node that has one, and at its solution; the nodes after it are not visited, so the trace never arrives
    at a node it leaves unexpanded, nor leaves one that holds a solution. True when the search ends."""
    for node, kids in zip(expanded, children, strict=True):
        tree.visit(node)
        if goal_test(tree, kids, stop):
            return True
    return False


@dataclass
class StrategyConfig:
    """The base of every strategy's config: the shared compute budget, validation when built, and how to size
    the strategy when strategies are compared at equal compute.

    Subclasses check their own settings in `validate()` (calling this one); a ValueError message starts with the
    setting's name ("expand_width: ..."), so a config loader can prefix the section ("search.astar.expand_width").
    """

    budget: Budget = field(default_factory=Budget)
    # Settings that were renamed: old name -> the new key, for a clear error when an old config uses one.
    MOVED: ClassVar[dict[str, str]] = {"max_nodes": "budget.nodes"}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.budget, Budget):
            raise ValueError(f"budget: expected a Budget, got {self.budget!r}")
        try:
            self.budget.validate()
        except ValueError as error:
            raise ValueError(f"budget.{error}") from None

    def matched(self: C, target: ComputeTarget) -> C:
        """This config with the target's budget as its only limit (settings in target.fixed are kept); a strategy
        whose breadth the budget should size (best-of-N's N, beam's width) overrides this."""
        return dataclasses.replace(self, budget=target.budget())

    def answer_correct(self, tree: SearchTree) -> bool | None:
        """Whether the answer the strategy picks without the verifier is correct; None for a strategy that does
        not pick one (it stops at, or keeps, the verified solutions)."""
        return None


@dataclass
class Transpositions:
    """A position (the domain's state_key) taken up once per search, as in textbook graph search.

    The same numbers reached by other steps ([25, 16, 6] by "25 - 19 = 6" or after "21 - 16 = 5" in the other order)
    are one position: the first node to take it up holds it, and a later node reaching it is merged into that one (it
    stays in the tree, never taken up, with the holder in its `transposes`; it counts in the holder's `duplicates`).
    Terminal nodes are never merged: each is its own answer, checked where it is created. A strategy asks for the keys
    of the nodes it creates (`yield from seen.learn(children)`) and asks `seen.take(node)` where it would take a node
    up.
    """

    tree: SearchTree
    keys: dict[int, Hashable | None] = field(default_factory=dict)  # node id -> its position (None: none to merge)
    taken: dict[Hashable, Node] = field(default_factory=dict)  # position -> the node that took it up
    waiting: dict[Hashable, Node] = field(default_factory=dict)  # position -> a corrected step not taken up yet
    heard: int = 0  # the slips' corrected steps (SearchTree.corrections) heard of so far

    def __post_init__(self) -> None:
        self.tree.transpositions_merged = True

    def learn(self, nodes: list[Node]) -> Generator[StateKeys, Any, None]:
        """Ask the runner for the positions of the nodes and of the slips' corrected steps made since (answered at
        once, without a backend call). A trace writes a corrected step where the search takes it up (linearize.walk),
        as any step: one whose numbers are taken up is merged into their holder now; another waits, merged into
        whichever node takes its position up first (itself, when it is taken up before any other), and a later
        corrected step to the same numbers into it."""
        corrected = [self.tree.nodes[i] for i in self.tree.corrections[self.heard :]]
        self.heard = len(self.tree.corrections)
        asked = list({n.id: n for n in (*nodes, *corrected) if n.id not in self.keys}.values())
        if asked:
            self.keys.update(zip((n.id for n in asked), (yield StateKeys(asked)), strict=True))
        for node in corrected:
            key = self.keys[node.id]
            if key is None or node.terminal:
                continue
            first = self.taken.get(key, self.waiting.get(key))
            if first is None:
                self.waiting[key] = node
            elif first is not node:  # (a sibling taken as the correction of two slips is heard of twice)
                self._merge(node, first)

    def take(self, node: Node) -> bool:
        """Whether the node may be taken up: it is terminal, has no position, or holds its position (now, or since it
        was taken up before). Else it is a transposition, merged into the holder: False."""
        key = None if node.terminal else self.keys.get(node.id)
        if key is None:
            return True
        if node.transposes is not None:  # merged before (a corrected step, while it waited)
            return False
        holder = self.taken.setdefault(key, node)
        if holder is not node:
            self._merge(node, holder)
            return False
        corrected = self.waiting.pop(key, node)
        if corrected is not node:
            self._merge(corrected, node)
        return True

    def _merge(self, node: Node, holder: Node) -> None:
        if node.transposes is None:
            holder.duplicates += 1
            node.transposes = holder.id
