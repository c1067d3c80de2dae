"""A* over reasoning steps: f = g + h, g the path cost, h derived from the PRM score."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from metacot.search.budget import Budget, search_budget
from metacot.search.runner import Expand, Score
from metacot.tree import Node, SearchTree


@dataclass
class AStarConfig:
    max_nodes: int | None = 200  # never grow the tree past this many nodes (None: only the budget limits it)
    expand_width: int = 8  # children proposed per expansion
    step_cost: float = 0.1  # g = step_cost * depth; 0 gives best-first by value (the Meta-CoT paper's "A*")
    heuristic: str = "neglog"  # h from the PRM score: "neglog": -log(score), "linear": 1 - score
    h_weight: float = 1.0
    stop_at_first_solution: bool = True
    budget: Budget = field(default_factory=Budget)  # the shared budget; max_nodes tightens its node limit


def heuristic(score: float, kind: str) -> float:
    if kind == "neglog":
        return -math.log(score) if score > 0 else math.inf
    if kind == "linear":
        return 1.0 - score
    raise ValueError(f"unknown heuristic {kind!r}: expected 'neglog' or 'linear'")


def astar(tree: SearchTree, config: AStarConfig):
    """Pop the lowest f (ties: deeper first, then creation order), goal-test it, expand and score its children."""
    heuristic(1.0, config.heuristic)  # reject an unknown heuristic before searching
    budget = search_budget(config)
    frontier: list[tuple[float, int, int]] = [(0.0, 0, tree.root.id)]
    while frontier:
        _, _, node_id = heapq.heappop(frontier)
        node = tree.nodes[node_id]
        tree.visit(node)
        if node.terminal:
            if node.correct and config.stop_at_first_solution:
                return
            continue
        n = budget.room(tree.compute, config.expand_width)
        if n <= 0:
            return
        children = yield Expand(node, n)
        if not children:
            continue
        yield Score(children)
        for child in children:
            f = f_value(child, config)
            if f < math.inf:
                heapq.heappush(frontier, (f, -child.depth, child.id))


def f_value(node: Node, config: AStarConfig) -> float:
    return config.step_cost * node.depth + config.h_weight * heuristic(node.score, config.heuristic)
