"""The one request a policy or PRM answers: a node of a problem's tree, with its seed, sample count and what the
problem's proposals are conditioned on."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from metacot.tree import Node, SearchTree

# (the candidate moves, the state they leave, the problem) -> the moves, most preferred first
MoveOrder = Callable[[list[Any], Any, Any], list[Any]]


@dataclass(frozen=True)
class Conditioning:
    """What one problem's proposals are conditioned on, built above the core (behaviour-conditioned inference,
    metacot.behaviors): each policy reads what it uses, and the tree records the behaviours' names."""

    behaviors: tuple[str, ...] = ()  # the names of the behaviours retrieved for the problem
    prompt_head: str = ""  # what opens the question in an LLM policy's prompt (the same head for every node)
    order_moves: MoveOrder | None = None  # how the symbolic policy orders its candidate moves; None: as sampled


@dataclass(slots=True)
class NodeRequest:
    """`node` of `tree` for `problem`: propose (or roll out) n continuations after it, or score its last step."""

    problem: Any
    tree: SearchTree
    node: Node
    seed: int
    n: int = 1
    # Scoring: the most completions the tree's rollouts may have cost in all (the budget's `rollouts`; None: no
    # limit). The rollout PRM generates no more than what is left of it (tree.compute.rollouts counts them).
    rollout_limit: int | None = None
    conditioning: Conditioning | None = None  # None: the problem's proposals are not conditioned

    @property
    def steps(self) -> list[str]:
        """The steps from the root to the node."""
        return self.tree.steps_to(self.node.id)


@runtime_checkable
class Submits(Protocol):
    """A policy or PRM that answers each request on its own (an HTTP request each): it sends a list of requests at
    once and returns a future per request, holding what its batch call (propose, score) would return for it. The
    runner then hands each search its answers as soon as they are in, instead of a round's answers all together
    when its slowest (a timeout, a retry) comes."""

    def submit(self, requests: list[NodeRequest]) -> list[Future[Any]]: ...
