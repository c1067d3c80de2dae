"""The RewardModel protocol: a batch of (problem, path) in, one score in [0, 1] per path's last step out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from metacot.tree import Node, SearchTree


@dataclass(slots=True)
class ScoreRequest:
    """Score the last step of the path from the root to `node`."""

    problem: Any
    tree: SearchTree
    node: Node
    seed: int

    @property
    def steps(self) -> list[str]:
        return self.tree.steps_to(self.node.id)


class RewardModel(Protocol):
    def score(self, requests: list[ScoreRequest]) -> list[float]: ...
