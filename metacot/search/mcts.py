"""Monte Carlo tree search with PUCT or UCT selection, k-child expansion, PRM leaf values and verified rewards.

Selection (`selection`): "puct" (AlphaZero's, weighted by the policy's step probabilities: Q + c_puct * P *
sqrt(N) / (1 + N(c))) or "uct" (UCB1, blind to the policy's probabilities, the Meta-CoT paper's choice because step
likelihoods are skewed: Q + c_uct * sqrt(ln(N + 1) / (1 + N(c)))). Q of a child never visited (`q_init`): "value",
its value (the verifier's 1/0 where known, else its PRM score), or "zero". The backup is the incremental mean: Q is
the mean of the values backed up through the node (value_sum / visits). An expansion backs up its best new child's
value, or the node's own when every new step is verified wrong and the node may still grow (`expansion_value`).

Progressive widening (`widening`, on by default): after its first expansion (expand_width children) a node may
hold up to ceil(widen_c * N^widen_alpha) children, N its visits; when the rule allows more than it has, selection
stops there and asks the policy for more children of that node instead of descending. A node whose policy had
nothing new to propose is not asked again.

Transpositions are merged (protocol.Transpositions): a node takes its position up when selection first reaches it; a
leaf whose numbers another node already took up, reached by other steps, is merged into that node (it counts in the
holder's `duplicates`), never visited or expanded, and selection runs again without it, so a position is searched
from one node. Children are scored when created, as before: a holder's PRM score is one draw, not the best of two.

A search ends before its simulations run out when the tree is exhausted: a simulation reached a node it cannot
grow, and no node of the tree can grow (each is terminal, or expanded and never to be widened again).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from metacot.flags import flag
from metacot.search.budget import ComputeTarget
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

SELECTIONS = ("puct", "uct")
Q_INITS = ("value", "zero")


@dataclass
class MCTSConfig(StrategyConfig):
    simulations: int = flag("MCTS simulations per problem", 300)
    expand_width: int = flag("children proposed per expansion", 8)
    selection: str = field(
        default="puct",
        metadata={"help": "\"puct\": Q + c_puct * P * sqrt(N) / (1 + N(c)); \"uct\": Q + c_uct * sqrt(ln(N + 1) / (1 + "
                          "N(c))), the Meta-CoT paper's"},
    )
    c_puct: float = field(default=1.0, metadata={"help": "PUCT's exploration constant"})
    c_uct: float = field(default=1.0, metadata={"help": "UCT's exploration constant"})
    q_init: str = field(
        default="value",
        metadata={"help": "an unvisited child's Q: \"value\" (its PRM score, or the verified 1/0) or \"zero\""},
    )
    widening: bool = field(
        default=True,
        metadata={"help": "progressive widening: up to ceil(widen_c * N^widen_alpha) children after N visits"},
    )
    widen_c: float = field(
        default=8.0,
        metadata={"help": "progressive widening's constant (with expand_width 8: 8 children at the first visit, 12 at"
                          " 2, 24 at 9)"},
    )
    widen_alpha: float = field(default=0.5, metadata={"help": "progressive widening's exponent"})
    verified_reward: bool = field(
        default=True, metadata={"help": "back up the verifier's 1/0 at terminal nodes instead of their PRM score"}
    )
    stop_at_first_solution: bool = field(
        default=True, metadata={"help": "end the search at the first verified solution"}
    )

    def validate(self) -> None:
        super().validate()
        at_least("simulations", self.simulations, 0)
        at_least("expand_width", self.expand_width, 1)
        at_least("c_puct", self.c_puct, 0, float)
        at_least("c_uct", self.c_uct, 0, float)
        one_of("selection", self.selection, SELECTIONS)
        one_of("q_init", self.q_init, Q_INITS)
        at_least("widen_c", self.widen_c, 0, float)
        at_least("widen_alpha", self.widen_alpha, 0, float)

    def matched(self, target: ComputeTarget) -> MCTSConfig:
        """Simulations so generous that the budget binds first (unless the tree is exhausted)."""
        matched = super().matched(target)
        if "simulations" in target.fixed:
            return matched
        return dataclasses.replace(matched, simulations=20 * target.limit + 100)


def mcts(tree: SearchTree, config: MCTSConfig) -> SearchGen:
    """Each simulation: select a leaf by PUCT, expand and score its children, back up the best child's value.

    Each visit's value (the node's Q after the backup) goes into tree.trace_values, for traces to state."""
    budget = config.budget
    spent: set[int] = set()  # nodes the policy had nothing new for
    seen = Transpositions(tree)
    yield from seen.learn([tree.root])
    seen.take(tree.root)
    for _ in range(config.simulations):
        path = select(tree, config, spent)
        while not seen.take(path[-1]):  # a transposition of a position another node took up: merged, select again
            path = select(tree, config, spent)
        leaf = path[-1]
        widen = may_widen(leaf, config, spent)
        done = False
        if (leaf.terminal or leaf.expanded) and not widen:  # terminal, dead, or expanded with nothing to propose
            if exhausted(tree, config, spent):  # this and every later simulation would only revisit the tree
                return
            tree.visit(leaf)
            value = leaf_value(leaf, config)
        else:
            want = widen_limit(leaf, config) - len(leaf.children) if widen else config.expand_width
            n = budget.room(tree.compute, int(min(want, config.expand_width)))
            if n == 0:
                return
            tree.visit(leaf)
            children = yield Expand(leaf, n)
            if widen and not children:
                spent.add(leaf.id)
            yield from seen.learn(children)
            set_priors([tree.nodes[i] for i in leaf.children])
            if children:
                yield Score(children)
            value = expansion_value(leaf, children, config, widened=widen, may_grow=leaf.id not in spent)
            done = goal_test(tree, children, config.stop_at_first_solution)
        backup(path, value)
        record_values(tree, config)
        if done:
            return


def select(tree: SearchTree, config: MCTSConfig, spent: set[int] | None = None) -> list[Node]:
    """Descend from the root, by the configured selection rule, to a node without children (but transpositions,
    merged into another node) or one that may widen."""
    nodes = tree.nodes
    node = tree.root
    path = [node]
    spent = spent or set()
    while not may_widen(node, config, spent):
        options = open_children(node, nodes)
        if not options:
            break
        node = best_child(node, options, nodes, config)
        path.append(node)
    return path


def open_children(node: Node, nodes: list[Node]) -> list[int]:
    """The node's children that selection may descend to: all but the transpositions merged into another node."""
    return [i for i in node.children if nodes[i].transposes is None]


def best_child(parent: Node, options: list[int], nodes: list[Node], config: MCTSConfig) -> Node:
    """The child among `options` (ids) of highest selection score (the first of equals), `nodes` the tree's: PUCT,
    Q + c_puct * P * sqrt(N) / (1 + N(c)); UCT, Q + c_uct * sqrt(ln(N + 1) / (1 + N(c))). The parent's factor is
    computed once, with the same floats."""
    uct, c_uct = config.selection == "uct", config.c_uct
    scale = config.c_puct * math.sqrt(parent.visits)
    log_visits = math.log(parent.visits + 1) if uct else 0.0
    first = nodes[options[0]]
    best, best_score = first, -math.inf
    for i in options:
        child = nodes[i]
        visits = child.visits
        q = q_value(child, config)
        if uct:
            score = q + c_uct * math.sqrt(log_visits / (1 + visits))
        else:
            score = q + scale * (child.prior or 0.0) / (1 + visits)
        if score > best_score or child is first:
            best, best_score = child, score
    return best


def widen_limit(node: Node, config: MCTSConfig) -> float:
    """The most children the widening rule lets the node hold: ceil(widen_c * N^widen_alpha); inf past a float's
    range (a huge widen_alpha or widen_c)."""
    try:
        limit = config.widen_c * node.visits**config.widen_alpha
    except OverflowError:
        return math.inf
    return math.ceil(limit) if math.isfinite(limit) else math.inf


def may_widen(node: Node, config: MCTSConfig, spent: set[int]) -> bool:
    """Whether to ask for more children of an expanded node now: widening is on, the node is live, the policy
    still had something new last time, and the rule allows more children than it has."""
    return (
        config.widening
        and node.expanded
        and not node.terminal
        and node.id not in spent
        and len(node.children) < widen_limit(node, config)
    )


def exhausted(tree: SearchTree, config: MCTSConfig, spent: set[int]) -> bool:
    """Whether no simulation can add anything to the tree: every node is terminal, merged into another, or expanded
    for good (no widening, its policy had nothing new, or as many children as the rule will ever allow)."""
    ceiling = math.inf if config.widen_alpha > 0 and config.widen_c > 0 else math.ceil(config.widen_c)
    return not any(
        not node.expanded or (config.widening and node.id not in spent and len(node.children) < ceiling)
        for node in tree.nodes
        if not node.terminal and node.transposes is None
    )


def q_value(node: Node, config: MCTSConfig) -> float:
    """Q: the mean backed-up value; before the first visit, by the config's q_init, the node's value (the
    verifier's 1/0 where known, else its PRM score) or 0. The one rule selection, backups and trace values use."""
    if node.visits:
        return node.value_sum / node.visits
    if config.q_init == "zero":
        return 0.0
    known = node.known_value
    return known if known is not None else node.score or 0.0


def leaf_value(node: Node, config: MCTSConfig) -> float:
    known = node.known_value
    if known is not None and config.verified_reward:
        return known
    if node.expanded and not node.children:
        return 0.0
    return node.score or 0.0


def expansion_value(leaf: Node, children: list[Node], config: MCTSConfig, widened: bool, may_grow: bool) -> float:
    """The value an expansion backs up: its best new child's. The leaf's own value instead when a widening brought
    nothing new, or when every new step is verified wrong while the policy may still propose others: wrong samples
    are evidence against those steps, not against the node (a node the oracle scores 1 whose sampled steps all
    slipped is still solvable). A first expansion with nothing at all is worth 0."""
    all_wrong = bool(children) and all(c.known_value == 0 for c in children)
    if (widened and not children) or (all_wrong and config.widening and may_grow):
        return q_value(leaf, config)
    return max((leaf_value(c, config) for c in children), default=0.0)


def set_priors(children: list[Node]) -> None:
    """Softmax over the steps' log-probabilities when the policy gave them, else uniform."""
    logprobs = [c.logprob for c in children if c.logprob is not None]
    if children and len(logprobs) == len(children):
        top = max(logprobs)
        weights = [math.exp(lp - top) for lp in logprobs]
        total = sum(weights)
        for c, w in zip(children, weights, strict=True):
            c.prior = w / total
    else:
        for c in children:
            c.prior = 1.0 / len(children)


def record_values(tree: SearchTree, config: MCTSConfig) -> None:
    """The value of each visit made since the last record (the simulation's leaf, and any solution it found): the
    node's Q after the backup."""
    tree.trace_values += [q_value(tree.nodes[i], config) for i in tree.trace[len(tree.trace_values) :]]


def backup(path: list[Node], value: float) -> None:
    for node in path:
        node.visits += 1
        node.value_sum += value
