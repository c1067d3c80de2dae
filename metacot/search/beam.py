"""Step-level beam search: expand every beam node, score all the new steps, keep the top k by PRM score.

One round of expansions per level (the beam's nodes together) and one Score request for all their
children, so a search takes about two rounds per step. Terminal children never stay in the beam (there is
nothing to expand). The visit trace is in level order, each node visited where it is expanded (a trace never
arrives at a node it leaves unexpanded): the root, then each level's expanded nodes best first, each followed by
its verified children; with stop_at_first_solution the trace ends at the first node that has one, and at its
solution (protocol.goal_test_round). A position is kept once per search (protocol.Transpositions): a child whose
numbers a node of this or an earlier level already holds, reached by other steps, is merged into that node and
leaves its place in the beam to the next best child.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from metacot.flags import flag
from metacot.search.budget import ComputeTarget
from metacot.search.protocol import Expand, Score, SearchGen, StrategyConfig, Transpositions, at_least, goal_test_round
from metacot.tree import Node, SearchTree


@dataclass
class BeamConfig(StrategyConfig):
    beam_width: int = field(default=4, metadata={"help": "nodes kept per level (by PRM score)"})
    expand_width: int = flag("children proposed per expansion", 4)  # per beam node
    max_depth: int = field(default=64, metadata={"help": "levels at most"})
    stop_at_first_solution: bool = field(
        default=True, metadata={"help": "end the search at the first verified solution"}
    )

    def validate(self) -> None:
        super().validate()
        at_least("beam_width", self.beam_width, 1)
        at_least("expand_width", self.expand_width, 1)
        at_least("max_depth", self.max_depth, 0)

    def matched(self, target: ComputeTarget) -> BeamConfig:
        """With target.fit, the beam width (and the expansion width, unless fixed) sized to what a full run to a
        solution's depth can afford: the root's children, then expand_width per beam node per level."""
        matched = super().matched(target)
        if not target.fit or "beam_width" in target.fixed:
            return matched
        if "expand_width" in target.fixed:
            width = target.largest(lambda k: _full_run_cost(target, k, matched.expand_width))
            return dataclasses.replace(matched, beam_width=width or matched.beam_width)
        width = target.largest(lambda k: _full_run_cost(target, k, k))
        return matched if width is None else dataclasses.replace(matched, beam_width=width, expand_width=width)


def _full_run_cost(target: ComputeTarget, width: int, expand: int) -> int:
    """A search to the target's depth: the root's children, then `expand` per beam node per level, all scored."""
    created = expand + width * expand * (target.depth - 1)
    policy_calls = 1 + width * (target.depth - 1)
    return target.cost(created, policy_calls=policy_calls, prm_calls=target.depth, scored_nodes=created)


def beam(tree: SearchTree, config: BeamConfig) -> SearchGen:
    """Level by level: expand the beam, score the children, keep the best beam_width non-terminal ones."""
    budget = config.budget
    seen = Transpositions(tree)
    yield from seen.learn([tree.root])
    seen.take(tree.root)
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
        results = yield asks
        children = [child for kids in results for child in kids]
        if children:
            yield Score(children)
        if goal_test_round(tree, [ask.node for ask in asks], results, config.stop_at_first_solution) or not children:
            return
        yield from seen.learn(children)
        level = top_k([c for c in children if not c.terminal], config.beam_width, seen)


def top_k(nodes: list[Node], k: int, seen: Transpositions) -> list[Node]:
    """The k best-scored nodes that `seen` lets take up their positions, best first; equal scores keep creation
    order. A transposition met on the way is merged; the nodes after the k-th are not looked at."""
    kept: list[Node] = []
    for node in sorted(nodes, key=lambda node: (-(node.score or 0.0), node.id)):
        if len(kept) == k:
            break
        if seen.take(node):
            kept.append(node)
    return kept
