"""The Policy protocol: a batch of expansion requests in, n step proposals per request out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from metacot.tree import Node, SearchTree


@dataclass(slots=True)
class ExpandRequest:
    """Propose up to n next steps after `node` of `tree` for `problem`."""

    problem: Any
    tree: SearchTree
    node: Node
    n: int
    seed: int

    @property
    def steps(self) -> list[str]:
        return self.tree.steps_to(self.node.id)


@dataclass(slots=True)
class Proposal:
    """One proposed step, normalized across backends (the step delimiter is never part of text)."""

    text: str
    tokens: int = 0
    logprob: float | None = None  # cumulative over the step's tokens, when the backend knows it
    finish_reason: str = "stop"  # "stop" | "length": a "length" step was cut off and is never taken as finished


class Policy(Protocol):
    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        """Up to request.n next steps for each request."""
        ...

    def rollout(self, requests: list[ExpandRequest]) -> list[list[list[str]]]:
        """request.n continuations to the end of the solution for each request, each as its list of steps."""
        ...
