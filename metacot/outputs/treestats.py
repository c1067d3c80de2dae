"""What a saved tree says about each node's subtree: finished paths, verified ones, dead ends; a step's value."""

from __future__ import annotations

from dataclasses import dataclass

from metacot.prm.interval import wilson
from metacot.tree import Node, SearchTree

LABEL_SOURCES = ("prm", "mc", "subtree")


@dataclass
class SubtreeStats:
    """Per node id: the finished paths below it (dead steps and verified terminals, the node included), the
    verified-correct ones among them, and whether it is a dead end (dead, or expanded with every child a dead end)."""

    finished: list[int]
    correct: list[int]
    dead_end: list[bool]

    @staticmethod
    def of(tree: SearchTree) -> SubtreeStats:
        n = len(tree.nodes)
        stats = SubtreeStats([0] * n, [0] * n, [False] * n)
        for node in reversed(tree.nodes):  # a child's id is larger than its parent's
            finished = node.dead or node.terminal
            stats.finished[node.id] += finished
            stats.correct[node.id] += bool(node.correct)
            kids = node.children
            stats.dead_end[node.id] = node.dead or (bool(kids) and all(stats.dead_end[c] for c in kids))
            if node.parent >= 0:
                stats.finished[node.parent] += stats.finished[node.id]
                stats.correct[node.parent] += stats.correct[node.id]
        return stats

    def success_rate(self, node_id: int) -> float | None:
        """Verified-correct paths over finished paths below the node; None when none finished."""
        finished = self.finished[node_id]
        return self.correct[node_id] / finished if finished else None

    def dead_subtrees(self, tree: SearchTree) -> set[int]:
        """Every node inside a dead end's subtree (the dead end included): what a pruned trace leaves out."""
        out: set[int] = set()
        for node in tree.nodes:  # parents first
            if self.dead_end[node.id] or node.parent in out:
                out.add(node.id)
        return out


def mc_value(node: Node) -> float | None:
    """successes / rollouts of the rollout PRM's Monte Carlo estimate at the node; None where it rolled out none."""
    return node.successes / node.rollouts if node.successes is not None and node.rollouts else None


def has_values(trees: list[SearchTree], source: str) -> bool:
    """Whether the trees hold values of the source beyond the verifier's: a PRM score, rollout counts (subtree
    values come from any saved tree)."""
    if source == "subtree":
        return True
    stats = SubtreeStats([], [], [])  # not read by the prm and mc sources
    return any(n.known_value is None and step_value(n, source, stats) is not None for tree in trees for n in tree.nodes)


def path_value(tree: SearchTree, node: Node, source: str, stats: SubtreeStats) -> float | None:
    """step_value, but 0.0 for a step at or below a wrong result taken at face value (a slip; Node.slip): its path
    is wrong whatever the source says. The one check of wrong arithmetic for labels and pairs."""
    return 0.0 if tree.first_slip(node.id) is not None else step_value(node, source, stats)


def value_interval(tree: SearchTree, node: Node, source: str, stats: SubtreeStats) -> tuple[float, float] | None:
    """Where path_value's value surely lies (95%): a point for one known without a model (a slip's 0, the
    verifier's 1 or 0), the Wilson interval of the counts behind an estimate (mc: successes of rollouts; subtree:
    verified of finished paths; a prm score that is a rollout estimate); None for a single score, which has no
    interval."""
    known = 0.0 if tree.first_slip(node.id) is not None else node.known_value
    if known is not None:
        return known, known
    if source == "subtree":
        return wilson(stats.correct[node.id], stats.finished[node.id]) if stats.finished[node.id] else None
    if node.successes is not None and node.rollouts and (source == "mc" or node.score == mc_value(node)):
        return wilson(node.successes, node.rollouts)
    return None


def step_value(node: Node, source: str, stats: SubtreeStats) -> float | None:
    """The node's value from a label source; a dead step or a verified terminal has the verifier's 0 or 1 in every
    source. prm: the PRM's score; mc: the rollout PRM's successes / rollouts; subtree: the verified-success rate
    of the finished paths below it in the saved tree."""
    if node.known_value is not None:
        return node.known_value
    if source == "prm":
        return node.score
    if source == "mc":
        return mc_value(node)
    if source == "subtree":
        return stats.success_rate(node.id)
    raise ValueError(f"label source: unknown {source!r}; expected one of {', '.join(LABEL_SOURCES)}")
