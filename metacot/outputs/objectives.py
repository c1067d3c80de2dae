"""Trace records shaped for the Meta-CoT paper's four training objectives, by per-segment loss flags.

- full: loss on the whole completion (trace and answer).
- trace_only: loss on the search trace, not on the answer block.
- on_path: loss on the segments on the root-to-solution path only (linearize.segments says which): the steps into
  branches the solution does not pass through, and the backtracks between nodes of such branches, stay in the
  context but get no loss.
- pruned: the full record, and an extra record whose trace leaves out the dead branches: every subtree where each
  path the search finished failed (a dead step or a wrong answer) and none is left open. It is re-linearized from
  the tree with those nodes skipped, so every sentence in it is still true of the tree (`metacot audit` passes);
  branches abandoned for a low value stay. (Pruning every off-path branch leaves the clean path: the cot format.)
"""

from __future__ import annotations

from dataclasses import replace

from metacot.linearize import LinearizeConfig, linearize_tree
from metacot.linearize.formats import with_segments
from metacot.linearize.segments import ANSWER
from metacot.outputs.treestats import SubtreeStats
from metacot.problems.base import Domain
from metacot.tree import SearchTree

OBJECTIVES = ("full", "trace_only", "on_path", "pruned")


def objective_records(
    tree: SearchTree, domain: Domain, config: LinearizeConfig, fmt: str, objective: str
) -> list[dict]:
    """The tree's records in one format for an objective: each with `objective`, `pruned` and its segments, each
    segment with a `loss` flag. None when the format's options leave the tree out."""
    if objective not in OBJECTIVES:
        raise ValueError(f"--objective: unknown {objective!r}; expected one of {', '.join(OBJECTIVES)}")
    config = replace(config, formats=[fmt])
    record = linearize_tree(tree, domain, config, with_segments=True).get(fmt)
    if record is None:
        return []
    if "segments" not in record:
        marked = ", ".join(with_segments())
        raise ValueError(f"--objective: the {fmt} format does not mark its lines by move; use one that does: {marked}")
    records = [with_loss(record, objective, pruned=False)]
    if objective == "pruned":
        dead = SubtreeStats.of(tree).dead_subtrees(tree)
        if any(s["node"] in dead for s in record["segments"]):
            pruned = linearize_tree(tree, domain, config, with_segments=True, leave_out=dead)[fmt]
            records.append(with_loss(pruned, objective, pruned=True))
    return records


def with_loss(record: dict, objective: str, pruned: bool) -> dict:
    """The record with the objective's loss flag on each segment."""
    segments = [{**s, "loss": _loss(s, objective)} for s in record["segments"]]
    return {**record, "objective": objective, "pruned": pruned, "segments": segments}


def _loss(segment: dict, objective: str) -> bool:
    if objective == "trace_only":
        return segment["kind"] != ANSWER
    if objective == "on_path":
        return segment["on_path"]
    return True
