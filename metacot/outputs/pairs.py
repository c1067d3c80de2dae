"""Preference pairs from a saved tree, in TRL DPOTrainer's layout (prompt, chosen, rejected), of two kinds.

- "step": two sibling steps (same parent, so the same prompt: the problem and the steps down to the parent) where
  one leads to a verified solution and the other into a dead end (reason "verified"), or whose values differ by at
  least the margin with intervals that do not overlap (reason "value_gap"): Monte Carlo counts (the rollout PRM's
  successes of rollouts, mc) or verified paths of finished ones below (subtree) give a 95% Wilson interval; a
  single PRM score has none and makes value_gap pairs only when asked for (--single-scores). As in rStar-Math's
  process preference model and Meta-CoT 7.2.
- "trajectory": the verified path the traces answer with against a wrong answer (a finished path that is no
  solution), each as the prompt asks for it: the steps in <think> tags, then the answer in <answer> tags.
  rStar-Math's trajectory-level pairs. Up to TRAJECTORIES per tree, the wrong answers the search made first; a path
  cut short by a dead step has no answer and is not used (in Countdown both paths have as many steps).
A step at or below a wrong result taken at face value (a slip) is worth 0, in labels too (treestats.path_value): it
is never chosen. A problem the domain finds has no solution gives no pairs unless asked for (--unsolvable-pairs):
there every step is wrong. Each record carries its provenance: kind, reason, value_source, solvable (True, False,
None: undecided), the two node ids, their values (chosen_value - rejected_value >= margin) and intervals (a point
for a verified value; None for a single score).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from metacot.linearize import completion_text
from metacot.outputs.treestats import SubtreeStats, path_value, value_interval
from metacot.outputs.truth import solvable
from metacot.problems.base import Domain
from metacot.tree import SearchTree

TRAJECTORIES = 4
Interval = tuple[float, float] | None


@dataclass(frozen=True)
class PairOptions:
    """What pairs an export makes: the least value gap of a value_gap pair, trajectory pairs per tree, value_gap
    pairs from single scores (no interval: as noisy as the PRM), pairs from problems with no solution."""

    margin: float = 0.3
    trajectories: int = TRAJECTORIES
    single_scores: bool = False
    unsolvable: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.margin <= 1:
            raise ValueError(f"--margin: expected a number in (0, 1], got {self.margin}")


def pair_records(
    tree: SearchTree, domain: Domain, options: PairOptions = PairOptions(), source: str = "prm"
) -> Iterator[dict]:
    problem = domain.problem_from_dict(tree.problem)
    has_solution = solvable(tree, domain, problem)
    if has_solution is False and not options.unsolvable:
        return
    prompt = domain.prompt(problem)
    stats = SubtreeStats.of(tree)
    separator = domain.step_delimiter
    provenance = {"problem_id": tree.problem_id, "value_source": source, "solvable": has_solution}
    for parent in tree.nodes:
        prefix = "".join(step + separator for step in tree.steps_to(parent.id))
        for a, b in combinations(parent.children, 2):
            pair = _step_pair(tree, stats, (a, b), options, source)
            if pair is not None:
                texts = [tree.nodes[i].step for i in pair.nodes]
                yield {**provenance, **pair.record("step", f"{prompt}{separator}{prefix}", texts)}
    for pair in _trajectory_pairs(tree, options.trajectories):
        texts = [_answered(tree, domain, problem, i) for i in pair.nodes]
        yield {**provenance, **pair.record("trajectory", prompt, texts)}


def _answered(tree: SearchTree, domain: Domain, problem: Any, leaf: int) -> str:
    """The path to a finished leaf as the prompt asks for it: the steps in <think> tags, then its answer."""
    steps = tree.steps_to(leaf)
    return completion_text(steps, domain.final_answer(problem, steps), True, domain.step_delimiter)


@dataclass(frozen=True)
class Pair:
    """Two nodes, chosen then rejected, why, and their values and intervals."""

    nodes: tuple[int, int]
    reason: str
    values: tuple[float, float]
    intervals: tuple[Interval, Interval]

    def record(self, kind: str, prompt: str, texts: list[str]) -> dict:
        """The pair's record: its provenance, the prompt, the chosen and rejected texts."""
        return {
            "kind": kind,
            "reason": self.reason,
            "prompt": prompt,
            "chosen": texts[0],
            "rejected": texts[1],
            "chosen_node": self.nodes[0],
            "rejected_node": self.nodes[1],
            "chosen_value": self.values[0],
            "rejected_value": self.values[1],
            "chosen_interval": _listed(self.intervals[0]),
            "rejected_interval": _listed(self.intervals[1]),
        }


def _listed(interval: Interval) -> list[float] | None:
    return None if interval is None else list(interval)


VERIFIED = ((1.0, 0.0), ((1.0, 1.0), (0.0, 0.0)))


def _step_pair(
    tree: SearchTree, stats: SubtreeStats, siblings: tuple[int, int], options: PairOptions, source: str
) -> Pair | None:
    """Two siblings as a pair, or None when neither is surely better: one leads to a verified solution and the
    other into a dead end, or their values are the margin apart with intervals that do not overlap (single scores,
    which have none, only with options.single_scores). Values and intervals count a step at or below a wrong result
    (a slip) as 0: such a step is never chosen."""
    for good, bad in (siblings, siblings[::-1]):
        if stats.correct[good] and stats.dead_end[bad]:
            return Pair((good, bad), "verified", *VERIFIED)
    va, vb = (path_value(tree, tree.nodes[i], source, stats) for i in siblings)
    if va is None or vb is None or abs(va - vb) < options.margin:
        return None
    nodes = siblings if va > vb else siblings[::-1]
    chosen, rejected = (value_interval(tree, tree.nodes[i], source, stats) for i in nodes)
    sure = options.single_scores if chosen is None or rejected is None else chosen[0] > rejected[1]
    return Pair(nodes, "value_gap", (max(va, vb), min(va, vb)), (chosen, rejected)) if sure else None


def _trajectory_pairs(tree: SearchTree, limit: int) -> Iterator[Pair]:
    """The verified path the traces answer with (else the first solution) against up to `limit` wrong answers, the
    first the search made: finished paths, so both have an answer and, in Countdown, as many steps (a path cut
    short by an illegal step or a wrong result has no answer to give)."""
    best = next((i for i in tree.trace if tree.nodes[i].correct), None)
    if best is None:
        best = next((n.id for n in tree.solutions()), None)
    if best is None:
        return
    wrong = [n.id for n in tree.nodes if n.terminal and n.correct is False and n.error is None]
    for leaf in [i for i in wrong if tree.first_slip(i) is None][:limit]:
        yield Pair((best, leaf), "verified", *VERIFIED)
