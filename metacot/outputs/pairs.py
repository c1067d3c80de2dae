"""Preference pairs from a saved tree, in TRL DPOTrainer's layout (prompt, chosen, rejected), of two kinds.

- "step": two sibling steps (same parent, so the same prompt: the problem and the steps down to the parent) where
  one leads to a verified solution and the other into a dead end (reason "verified"), or whose values differ by at
  least the margin (reason "value_gap"). As in rStar-Math's process preference model and Meta-CoT 7.2.
- "trajectory": the verified path the traces answer with against a path that failed (a wrong answer or a dead
  step), the whole paths as chosen and rejected: rStar-Math's trajectory-level pairs. Up to TRAJECTORIES per tree,
  the failed paths the search made first.
Each record gives its kind, reason, the two node ids and their values (chosen_value - rejected_value >= margin).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from metacot.outputs.treestats import SubtreeStats, step_value
from metacot.problems.base import Domain
from metacot.tree import SearchTree

TRAJECTORIES = 4


def pair_records(
    tree: SearchTree, domain: Domain, margin: float = 0.3, source: str = "prm", trajectories: int = TRAJECTORIES
) -> Iterator[dict]:
    if not 0 < margin <= 1:
        raise ValueError(f"--margin: expected a number in (0, 1], got {margin}")
    problem = domain.problem_from_dict(tree.problem)
    prompt = domain.prompt(problem)
    stats = SubtreeStats.of(tree)
    separator = domain.step_delimiter
    for parent in tree.nodes:
        prefix = "".join(step + separator for step in tree.steps_to(parent.id))
        for a, b in combinations(parent.children, 2):
            pair = _step_pair(tree, stats, a, b, margin, source)
            if pair is not None:
                chosen, rejected, reason, values = pair
                yield {
                    "problem_id": tree.problem_id,
                    "kind": "step",
                    "reason": reason,
                    "prompt": f"{prompt}{separator}{prefix}",
                    "chosen": tree.nodes[chosen].step,
                    "rejected": tree.nodes[rejected].step,
                    "chosen_node": chosen,
                    "rejected_node": rejected,
                    "chosen_value": values[0],
                    "rejected_value": values[1],
                }
    yield from _trajectory_pairs(tree, prompt, separator, trajectories)


def _step_pair(
    tree: SearchTree, stats: SubtreeStats, a: int, b: int, margin: float, source: str
) -> tuple[int, int, str, tuple[float, float]] | None:
    """(chosen, rejected, reason, their values) for two siblings, or None when neither is clearly better."""
    for good, bad in ((a, b), (b, a)):
        if stats.correct[good] and stats.dead_end[bad]:
            return good, bad, "verified", (1.0, 0.0)
    va, vb = (step_value(tree.nodes[i], source, stats) for i in (a, b))
    if va is None or vb is None or abs(va - vb) < margin:
        return None
    return (a, b, "value_gap", (va, vb)) if va > vb else (b, a, "value_gap", (vb, va))


def _trajectory_pairs(tree: SearchTree, prompt: str, separator: str, limit: int) -> Iterator[dict]:
    best = next((i for i in tree.trace if tree.nodes[i].correct), None)
    if best is None:
        best = next((n.id for n in tree.solutions()), None)
    if best is None:
        return
    failed = [n.id for n in tree.nodes if n.dead and not n.children]
    for leaf in failed[:limit]:
        yield {
            "problem_id": tree.problem_id,
            "kind": "trajectory",
            "reason": "verified",
            "prompt": prompt,
            "chosen": separator.join(tree.steps_to(best)),
            "rejected": separator.join(tree.steps_to(leaf)),
            "chosen_node": best,
            "rejected_node": leaf,
            "chosen_value": 1.0,
            "rejected_value": 0.0,
        }
