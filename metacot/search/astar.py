"""A* over reasoning steps: f = g + h, g the path cost, h derived from the node's estimated value.

The estimate never turns "no evidence" into "impossible": a Monte Carlo score (the rollout PRM's successes out of
rollouts) is smoothed toward its parent's estimate, (successes + k * parent) / (rollouts + k) with
k = prior_successes + prior_failures (a child of the unscored root: toward prior_successes / k, Laplace's rule with
the default 1, 1), so 0 of 8 playouts is "unlikely", not "pruned". The parent is the prior because a node's value is
the mean of its children's under the playout policy: 0 of 8 at a node whose parent's playouts also failed is
stronger evidence than 0 of 8 under a promising parent, and it sinks below the parent's request for more children.
Any other score is floored at score_floor. Only a verified dead node (an illegal step, a wrong finished path) keeps
its score as it is: scored 0 (the oracle, the rollout PRM) it is never pushed.
With step_cost = 0, f is h alone: best-first search by value, the Meta-CoT paper's "A*". The goal test is where an
expansion creates children (protocol.goal_test), not at pop: with step_cost > 0 and a 0/1 oracle, a solution would
otherwise wait on the frontier while every shallower node that looks solvable is popped before it.
As in textbook graph-search A*, a position is expanded once (a closed set, protocol.Transpositions): a popped node
whose numbers another node already took up, reached by other steps, is merged into that node, not expanded again.

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
from metacot.search.protocol import (
    Expand,
    Score,
    SearchGen,
    StrategyConfig,
    Transpositions,
    at_least,
    goal_test,
    one_of,
)
from metacot.tree import Node, SearchTree

HEURISTICS = ("neglog", "linear")


@dataclass
class AStarConfig(StrategyConfig):
    # 300 expansions, as many as MCTS's 300 simulations may make: the two compare at equal policy calls
    budget: Budget = field(default_factory=lambda: Budget(policy_calls=300))
    expand_width: int = flag("children proposed per expansion", 8)
    step_cost: float = field(
        default=0.1,
        metadata={"help": "g = step_cost * depth; 0 gives best-first search by value (the Meta-CoT paper's \"A*\")"},
    )
    heuristic: str = field(
        default="neglog", metadata={"help": "h from the value: \"neglog\": -log(value); \"linear\": 1 - value"}
    )
    h_weight: float = field(default=1.0, metadata={"help": "the weight of h in f = g + h_weight * h"})
    prior_successes: float = field(
        default=1.0,
        metadata={"help": "a Monte Carlo score's smoothing: (successes + k * parent) / (rollouts + k), k = "
                          "prior_successes + prior_failures"},
    )
    prior_failures: float = field(
        default=1.0,
        metadata={"help": "the other pseudo-count of k (the root's children are smoothed toward prior_successes / k)"},
    )
    score_floor: float = field(
        default=0.01,
        metadata={"help": "the least value any other score of a live node counts as: no live branch is pruned"},
    )
    widening: bool = field(
        default=True, metadata={"help": "an expanded node goes back on the frontier as a request for more children"}
    )
    max_expansions: int = field(default=8, metadata={"help": "expansions of one node, the first included"})
    widen_cost: float = field(
        default=1.0,
        metadata={"help": "added to the h of a request for more children, per expansion of the node so far"},
    )
    stop_at_first_solution: bool = field(
        default=True, metadata={"help": "end the search at the first verified solution"}
    )

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
    """Pop the lowest f (ties: deeper first, then creation order), expand it unless its position is closed, score
    and goal-test its children."""
    budget = config.budget
    # (f, -depth, 1 for a request for more children (after the nodes of equal f and depth), node id)
    frontier: list[tuple[float, int, int, int]] = [(0.0, 0, 0, tree.root.id)]
    values: dict[int, float] = {}  # node id -> its estimate, for scored nodes
    closed = Transpositions(tree)
    yield from closed.learn([tree.root])
    while frontier:
        _, _, _, node_id = heapq.heappop(frontier)
        node = tree.nodes[node_id]
        if not closed.take(node):
            continue
        tree.visit(node)
        if node.terminal:  # an answer is goal-tested when it is created, not here
            continue
        n = budget.room(tree.compute, config.expand_width)
        if n <= 0:
            return
        children = yield Expand(node, n)
        if not children:
            continue  # nothing (new) to propose: not asked again
        yield Score(children)
        if goal_test(tree, children, config.stop_at_first_solution):
            return
        yield from closed.learn(children)
        for child in children:
            values[child.id] = estimate(child, config, values.get(node.id))
            f = f_value(child, values[child.id], config)
            if f < math.inf and not child.correct:  # a solution was visited by the goal test
                heapq.heappush(frontier, (f, -child.depth, 0, child.id))
        if config.widening and node.reexpanded + 1 < config.max_expansions:
            heapq.heappush(frontier, (more_f_value(node, values.get(node.id), config), -node.depth - 1, 1, node.id))


def f_value(node: Node, value: float, config: AStarConfig) -> float:
    """f of a node whose estimated value is value."""
    return config.step_cost * node.depth + config.h_weight * heuristic(value, config.heuristic)


def more_f_value(node: Node, value: float | None, config: AStarConfig) -> float:
    """f of a request for more children of node: one more child with the node's value (None: an unscored node,
    the root, counts as certain), plus widen_cost for each expansion of the node so far."""
    h = heuristic(1.0 if value is None else value, config.heuristic) + config.widen_cost * (node.reexpanded + 1)
    return config.step_cost * (node.depth + 1) + config.h_weight * h


def estimate(node: Node, config: AStarConfig, parent: float | None = None) -> float:
    """The node's value for h: a Monte Carlo score smoothed toward its parent's estimate (None: an unscored parent,
    toward prior_successes / k); any other score of a node that is not dead floored at score_floor (positive for
    every live node); a dead node's score as it is (0 prunes it)."""
    if node.dead:
        return node.score or 0.0
    if node.rollouts is not None and node.successes is not None:
        k = config.prior_successes + config.prior_failures
        if node.rollouts + k == 0:
            return 0.0
        mean = parent if parent is not None else config.prior_successes / k if k > 0 else 0.0
        return (node.successes + k * mean) / (node.rollouts + k)
    return max(node.score or 0.0, config.score_floor)
