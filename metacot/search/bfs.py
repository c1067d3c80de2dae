"""Breadth-first and depth-first search: the stream-of-search baselines (Gandhi et al. 2024).

Their traces are the stream-of-search baselines: an uninformed (or PRM-ordered) listing of the states tried, to
compare the Meta-CoT traces of MCTS, A* and beam with.

Both expand one node at a time (the runner still batches the searches of many problems) and visit nodes in
the order they take them up: BFS level by level, DFS down the first child and back. Without a heuristic
children keep the policy's order and the PRM is never called; with heuristic="prm" the children of each
expansion are scored and taken up best first. The goal test is at generation (protocol.goal_test): with
stop_at_first_solution a verified child ends the search as soon as it is created; without, it is visited then and
never queued. The budget's default node limit is A*'s.

Transpositions are merged (protocol.Transpositions): a node whose position was already taken up in this search,
reached by other steps, is not taken up again: it stays in the tree unvisited and counts in the `duplicates` of the
node that took the position up.

Re-expansion (`widening`, on by default): an expanded node goes back on the frontier as a request for more
children, taken up after its children (DFS: after their whole subtrees, so when they all came to nothing; BFS: after
they were taken up), up to max_expansions expansions per node; a node the policy had nothing new for is not asked
again.
"""

from __future__ import annotations

from collections import deque
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

HEURISTICS = (None, "none", "prm")


@dataclass
class BFSConfig(StrategyConfig):
    budget: Budget = field(default_factory=lambda: Budget(nodes=200))  # the tree grows to 200 nodes at most
    expand_width: int = flag("children proposed per expansion", 8)
    heuristic: str | None = field(
        default=None,
        metadata={"help": "children in the policy's order (unset or \"none\") or by PRM score, best first (\"prm\")"},
    )
    stop_at_first_solution: bool = field(
        default=True, metadata={"help": "end the search at the first verified solution"}
    )
    widening: bool = field(
        default=True, metadata={"help": "ask a node for more children after its children (DFS: after their subtrees)"}
    )
    max_expansions: int = field(default=8, metadata={"help": "expansions of one node, the first included"})

    def validate(self) -> None:
        super().validate()
        at_least("expand_width", self.expand_width, 1)
        at_least("max_expansions", self.max_expansions, 1)
        one_of("heuristic", self.heuristic, HEURISTICS)


@dataclass
class DFSConfig(BFSConfig):
    pass


def bfs(tree: SearchTree, config: BFSConfig) -> SearchGen:
    """First in, first out: a level's nodes are all taken up before the next level's."""
    return _search(tree, config, depth_first=False)


def dfs(tree: SearchTree, config: DFSConfig) -> SearchGen:
    """Last in, first out: a node's children are taken up (first child first) before its siblings."""
    return _search(tree, config, depth_first=True)


def _search(tree: SearchTree, config: BFSConfig, depth_first: bool) -> SearchGen:
    budget = config.budget
    scored = config.heuristic == "prm"
    frontier: deque[Node] = deque([tree.root])  # nodes to take up; an expanded one again: a request for more children
    seen = Transpositions(tree)
    yield from seen.learn([tree.root])
    while frontier:
        node = frontier.pop() if depth_first else frontier.popleft()
        if not seen.take(node):
            continue
        tree.visit(node)
        if node.terminal:
            continue
        n = budget.room(tree.compute, config.expand_width, scored=scored)
        if n == 0:
            return
        children = yield Expand(node, n)
        if goal_test(tree, children, config.stop_at_first_solution):
            return
        yield from seen.learn(children)
        if scored and children:
            yield Score(children)
            children = sorted(children, key=lambda c: (-(c.score or 0.0), c.id))
        again = [node] if children and config.widening and node.reexpanded + 1 < config.max_expansions else []
        entries = [c for c in children if not c.correct]  # a solution was visited by the goal test
        frontier.extend([*again, *reversed(entries)] if depth_first else [*entries, *again])
