"""A* over reasoning steps: f = g + h, g the path cost, h derived from the node's estimated value.

The estimate never turns "no evidence" into "impossible": a Monte Carlo score (the rollout PRM's successes out of
rollouts) is smoothed, (successes + prior_successes) / (rollouts + prior_successes + prior_failures), so 0 of 8
playouts is "unlikely" (0.1 with the default Beta(1, 1) prior), not "pruned"; any other score is floored at
score_floor. Only a verified dead node (an illegal step, a wrong finished path) keeps its score as it is: scored 0
(the oracle, the rollout PRM) it is never pushed.
With step_cost = 0, f is h alone: best-first search by value, the Meta-CoT paper's "A*".

Re-expansion (`widening`, on by default): an expanded node goes back on the frontier as a request for more
children, valued like one more child with the node's own value plus widen_cost per expansion so far (an unscored
root counts as certain), up to max_expansions expansions per node; a node the policy had nothing new for is not
asked again. A node whose children all look worse than that request is asked for more before they are tried.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from metacot.flags import flag
from metacot.search.budget import Budget
from metacot.search.protocol import Expand, Score, SearchGen, StrategyConfig, at_least, one_of
from metacot.tree import Node, SearchTree

HEURISTICS = ("neglog", "linear")


@dataclass
class AStarConfig(StrategyConfig):
    budget: Budget = field(default_factory=lambda: Budget(nodes=200))  # the tree grows to 200 nodes at most
    expand_width: int = flag("children proposed per expansion", 8)
    step_cost: float = 0.1  # g = step_cost * depth; 0 gives best-first by value (the Meta-CoT paper's "A*")
    heuristic: str = "neglog"  # h from the PRM score: "neglog": -log(score), "linear": 1 - score
    h_weight: float = 1.0
    prior_successes: float = 1.0  # a Monte Carlo score's smoothing prior: pseudo-counts of verified completions,
    prior_failures: float = 1.0  # and of failed ones (1, 1: Laplace's rule of succession)
    score_floor: float = 0.01  # the least value any other score of a live node counts as
    widening: bool = True
    max_expansions: int = 4  # expansions of one node, the first included
    widen_cost: float = 1.0  # added to a request for more children's h per expansion of the node so far
    stop_at_first_solution: bool = True

    def validate(self) -> None:
        super().validate()
        at_least("expand_width", self.expand_width, 1)
        at_least("step_cost", self.step_cost, 0, float)
        at_least("h_weight", self.h_weight, 0, float)
        at_least("prior_successes", self.prior_successes, 0, float)
        at_least("prior_failures", self.prior_failures, 0, float)
        at_least("score_floor", self.score_floor, 0, float)
        at_least("max_expansions", self.max_expansions, 1)
        at_least("widen_cost", self.widen_cost, 0, float)
        if self.score_floor > 1:
            raise ValueError(f"score_floor: must be at most 1, got {self.score_floor!r}")
        one_of("heuristic", self.heuristic, HEURISTICS)


def heuristic(score: float, kind: str) -> float:
    if kind == "neglog":
        return -math.log(score) if score > 0 else math.inf
    if kind == "linear":
        return 1.0 - score
    raise ValueError(f"unknown heuristic {kind!r}: expected 'neglog' or 'linear'")


def astar(tree: SearchTree, config: AStarConfig) -> SearchGen:
    """Pop the lowest f (ties: deeper first, then creation order), goal-test it, expand and score its children."""
    budget = config.budget
    # (f, -depth, 1 for a request for more children (after the nodes of equal f and depth), node id)
    frontier: list[tuple[float, int, int, int]] = [(0.0, 0, 0, tree.root.id)]
    while frontier:
        _, _, _, node_id = heapq.heappop(frontier)
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
            continue  # nothing (new) to propose: not asked again
        yield Score(children)
        for child in children:
            f = f_value(child, config)
            if f < math.inf:
                heapq.heappush(frontier, (f, -child.depth, 0, child.id))
        if config.widening and node.reexpanded + 1 < config.max_expansions:
            heapq.heappush(frontier, (more_f_value(node, config), -node.depth - 1, 1, node.id))


def f_value(node: Node, config: AStarConfig) -> float:
    return config.step_cost * node.depth + config.h_weight * heuristic(estimate(node, config), config.heuristic)


def more_f_value(node: Node, config: AStarConfig) -> float:
    """f of a request for more children of node: one more child with the node's value (an unscored node, the
    root, counts as certain), plus widen_cost for each expansion of the node so far."""
    value = 1.0 if node.score is None else estimate(node, config)
    h = heuristic(value, config.heuristic) + config.widen_cost * (node.reexpanded + 1)
    return config.step_cost * (node.depth + 1) + config.h_weight * h


def estimate(node: Node, config: AStarConfig) -> float:
    """The node's value for h: a Monte Carlo score smoothed by its counts; any other score of a node that is not
    dead floored at score_floor (positive for every live node); a dead node's score as it is (0 prunes it)."""
    if node.dead:
        return node.score or 0.0
    if node.rollouts is not None and node.successes is not None:
        a, b = config.prior_successes, config.prior_failures
        return (node.successes + a) / (node.rollouts + a + b) if node.rollouts + a + b > 0 else 0.0
    return max(node.score or 0.0, config.score_floor)
