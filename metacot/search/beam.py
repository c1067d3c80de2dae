"""Step-level beam search: expand every beam node, score all the new steps, keep the top k by PRM score.

One round of expansions per level (the beam's nodes together) and one Score request for all their
children, so a search takes about two rounds per step. Terminal children never stay in the beam (there is
nothing to expand); with stop_at_first_solution the search ends at the first verified one. The visit trace
is in level order: the root, then each level's kept nodes best first (and a solution, when one is found).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metacot.search.budget import Budget, search_budget
from metacot.search.runner import Expand, Score
from metacot.tree import Node, SearchTree


@dataclass
class BeamConfig:
    beam_width: int = 4  # k: nodes kept per level
    expand_width: int = 4  # children proposed per beam node
    max_depth: int = 64  # levels at most
    stop_at_first_solution: bool = True
    budget: Budget = field(default_factory=Budget)


def beam(tree: SearchTree, config: BeamConfig):
    """Level by level: expand the beam, score the children, keep the best beam_width non-terminal ones."""
    budget = search_budget(config)
    tree.visit(tree.root)
    level = [tree.root]
    for _ in range(config.max_depth):
        allowance = budget.allowance(tree.compute)
        asks = []
        for node in level:
            n = allowance.expand(config.expand_width)
            if n == 0:
                break
            asks.append(Expand(node, n))
        if not asks:
            return
        children = [child for kids in (yield asks) for child in kids]
        if not children:
            return
        yield Score(children)
        for solution in (c for c in children if c.correct):
            tree.visit(solution)
            if config.stop_at_first_solution:
                return
        level = top_k([c for c in children if not c.terminal], config.beam_width)
        for node in level:
            tree.visit(node)


def top_k(nodes: list[Node], k: int) -> list[Node]:
    """The k best-scored nodes, best first; equal scores keep creation order."""
    return sorted(nodes, key=lambda node: (-(node.score or 0.0), node.id))[:k]
