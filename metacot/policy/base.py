"""The Policy protocol: a batch of expansion requests in, n step proposals per request out; and Rollouts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from metacot.backends.request import NodeRequest

ExpandRequest = NodeRequest  # propose up to n next steps after the node


@dataclass(slots=True, frozen=True)
class Proposal:
    """One proposed step, normalized across backends (the step delimiter is never part of text)."""

    text: str
    tokens: int = 0
    logprob: float | None = None  # cumulative over the step's tokens, when the backend knows it
    finish_reason: str = "stop"  # "stop" | "length": a "length" step was cut off and is never taken as finished
    # The structure the text was written from, for a policy that builds steps (the symbolic one's move): a domain
    # with apply_move(problem, state, text, move) applies it without reading the text back; None: it reads the text.
    move: Any = None
    cites: tuple[str, ...] = ()  # the behaviours the text cited, its marks removed (metacot.policy.cite)


class Rollout(list[str]):
    """One completion to the end of the solution: its steps (a list, and equal to the plain list of them), and the
    tokens generating it took (counted in the tree's Compute.rollout_tokens)."""

    def __init__(self, steps: Iterable[str] = (), tokens: int = 0):
        super().__init__(steps)
        self.tokens = tokens


class Policy(Protocol):
    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        """Up to request.n next steps for each request."""
        ...


@runtime_checkable
class Rollouts(Protocol):
    """A policy that completes paths to the end: what the rollout PRM needs."""

    def rollout(self, requests: list[ExpandRequest]) -> list[list[Rollout]]:
        """request.n continuations to the end of the solution for each request, each as its list of steps."""
        ...
