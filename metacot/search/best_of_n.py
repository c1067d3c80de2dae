"""Best-of-N: sample N complete solutions step by step, then pick one by vote or by PRM score.

The root is expanded once with n=N (N first steps, as one sampling call with n=N gives); after that every
chain asks for one next step per round, all chains in one round of expansions, so a search takes about as
many rounds as a solution has steps and the runner batches the chains of all problems together. Chains
end at a terminal step (an answer, or a dead step), when the policy proposes nothing, or when the budget
runs out (the chains that come first in order are extended first).

Selection (the verifier is never asked: it only marks which nodes are correct, as in every search):
  majority: the most frequent final answer (ties: the one reached first in chain order);
  weighted: the answer with the largest sum of PRM scores of its final steps;
  argmax:   the final step with the highest PRM score.
The final steps are scored (one Score request) only for "weighted" and "argmax". An answer is the final
state (Countdown: the number reached), compared as JSON.

The visit trace walks the chains in order, each one from the root after the previous one: a backtrack to
the root between chains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import orjson

from metacot.search.budget import ComputeTarget
from metacot.search.protocol import Expand, Score, SearchGen, StrategyConfig, at_least, one_of
from metacot.tree import Node, SearchTree

SELECTIONS = ("majority", "weighted", "argmax")


@dataclass
class BestOfNConfig(StrategyConfig):
    n: int = field(
        default=8, metadata={"help": "chains sampled (with the symbolic policy, at most its distinct first steps)"}
    )
    selection: str = field(
        default="majority",
        metadata={"help": "the answer: \"majority\" vote on the final state, PRM-\"weighted\" vote, or the "
                          "PRM's \"argmax\""},
    )
    max_depth: int = field(default=64, metadata={"help": "a chain is cut after this many steps"})

    def validate(self) -> None:
        super().validate()
        at_least("n", self.n, 1)
        one_of("selection", self.selection, SELECTIONS)
        at_least("max_depth", self.max_depth, 0)

    def matched(self, target: ComputeTarget) -> BestOfNConfig:
        """With target.fit, N sized to what N full chains to a solution's depth can afford."""
        matched = super().matched(target)
        if not target.fit or "n" in target.fixed:
            return matched
        scored = self.selection != "majority"

        def cost(n: int) -> int:  # the root's N children, then one step per chain per level; the finals scored
            return target.cost(
                n * target.depth,
                policy_calls=1 + n * (target.depth - 1),
                prm_calls=int(scored),
                scored_nodes=n if scored else 0,
            )

        return dataclasses.replace(matched, n=target.largest(cost) or matched.n)

    def answer_correct(self, tree: SearchTree) -> bool | None:
        """Whether the answer the selection rule picks (vote or PRM, no verifier) is correct."""
        choice = selected(tree, self.selection)
        return choice is not None and bool(choice.correct)


def best_of_n(tree: SearchTree, config: BestOfNConfig) -> SearchGen:
    """Grow N chains in lockstep, visit them in order, score the final steps if the selection needs it (the
    chosen answer is read off the tree afterwards: `selected`)."""
    budget = config.budget
    scored = config.selection != "majority"
    # The final steps are scored at the end: room for them is kept by asking for the first steps as scored.
    n = budget.room(tree.compute, config.n, scored=scored)
    chains: list[list[Node]] = []
    if n > 0 and config.max_depth > 0:
        chains = [[child] for child in (yield Expand(tree.root, n))]
    live = [chain for chain in chains if not chain[-1].terminal]
    depth = 1
    while live and depth < config.max_depth:
        allowance = budget.allowance(tree.compute)
        extending = [chain for chain in live if allowance.expand(1, scored=False)]
        if not extending:
            break
        results = yield [Expand(chain[-1], 1) for chain in extending]
        live = []
        for chain, children in zip(extending, results, strict=True):
            if children:
                chain.append(children[0])
                if not children[0].terminal:
                    live.append(chain)
        depth += 1
    tree.visit(tree.root)
    for chain in chains:
        for node in chain:
            tree.visit(node)
    finals = [chain[-1] for chain in chains if is_answer(chain[-1])]
    if scored and finals:
        k = budget.allowance(tree.compute).score(len(finals))  # all of them, by the reservation above
        if k:
            yield Score(finals[:k])


def is_answer(node: Node) -> bool:
    """A complete solution: a terminal step that is not dead by an illegal or cut-off step."""
    return node.terminal and node.error is None


def answer_key(node: Node) -> bytes:
    """What votes compare: the final state as JSON (a tuple and the list it is saved as compare equal)."""
    return orjson.dumps(node.state)


def select(finals: list[Node], selection: str) -> Node | None:
    """The chosen final step among the chains' final steps (in chain order), or None if there is none."""
    if not finals:
        return None
    if selection == "argmax":
        return max(finals, key=lambda node: _score(node))  # max keeps the first of equals
    totals: dict[bytes, float] = {}
    first: dict[bytes, Node] = {}
    for node in finals:
        key = answer_key(node)
        totals[key] = totals.get(key, 0.0) + (1.0 if selection == "majority" else _score(node))
        first.setdefault(key, node)
    best = max(totals, key=totals.__getitem__)  # dicts keep insertion order: ties go to the earliest answer
    return first[best]


def _score(node: Node) -> float:
    return node.score if node.score is not None else 0.0


def chain_ends(tree: SearchTree) -> list[Node]:
    """The last node of every chain of a best-of-N tree, in chain order (each root child starts a chain)."""
    nodes = tree.nodes
    ends = []
    for child_id in tree.root.children:
        node = nodes[child_id]
        while node.children:
            node = nodes[node.children[0]]
        ends.append(node)
    return ends


def selected(tree: SearchTree, selection: str) -> Node | None:
    """The final step a best-of-N search chose, recomputed from its saved tree (scores are on the nodes)."""
    return select([node for node in chain_ends(tree) if is_answer(node)], selection)
