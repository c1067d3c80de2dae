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
from collections.abc import Callable, Generator
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
