"""The one request a policy or PRM answers: a node of a problem's tree, with its seed and sample count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metacot.tree import Node, SearchTree


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

    @property
    def steps(self) -> list[str]:
        """The steps from the root to the node."""
        return self.tree.steps_to(self.node.id)
