"""The structural tagger: exact behaviour counts of metacot's own records, read from their trees, never their text.

A trace record (a `format` field) is rendered again from its tree with the run's linearize settings: backtracking is
the number of backtrack moves (the record's num_backtracks), verification the number of verdict sentences the
format writes (finished-path checks, failed steps, mistakes found), and no trace format sets subgoals or works
backward. A priming record (a `variant` field) is rendered again from its tree, its attempts and its seed, and its
typed lines are counted. A record whose tree is missing is counted as unknown (None).
"""

from __future__ import annotations

from pathlib import Path

import orjson

from metacot.behaviors.definitions import BACKTRACKING, BEHAVIORS, VERIFICATION
from metacot.behaviors.measure.base import BehaviorCounts
from metacot.behaviors.prime.datasets import think_trace
from metacot.behaviors.prime.variants import variant
from metacot.linearize.config import LinearizeConfig
from metacot.linearize.formats import FORMATS
from metacot.linearize.render import Context
from metacot.linearize.walk import count_backtracks, trace_to_solution, walk
from metacot.outputs.rundir import RunDir, RunDirError
from metacot.outputs.shards import TreeLookup
from metacot.tree import SearchTree


class StructuralTagger:
    """Counts the four behaviours of a run's own trace and priming records from the run's trees."""

    name = "structural"

    def __init__(self, run_dir: str | Path):
        self.directory = RunDir(run_dir)
        self.domain = self.directory.domain()
        self.trees = TreeLookup(self.directory)
        self.stop_at_first_solution = bool(self._settings().get("stop_at_first_solution", True))

    def _settings(self) -> dict:
        """The linearize settings the run's traces were last written with (traces/.state.json, else the
        manifest)."""
        state = self.directory.traces_dir / ".state.json"
        if state.exists():
            return orjson.loads(state.read_bytes()).get("settings") or {}
        return self.directory.read_manifest().get("config", {}).get("linearize") or {}

    def tag(self, records: list[dict]) -> list[BehaviorCounts]:
        return [self.tag_one(record) for record in records]

    def tag_one(self, record: dict) -> BehaviorCounts:
        tree = self.trees.get(record.get("problem_id", ""))
        if tree is None:
            return BehaviorCounts(dict.fromkeys(BEHAVIORS))
        if "variant" in record:
            return self._priming(record, tree)
        if "format" in record:
            return self._trace(record, tree)
        raise RunDirError(
            f"{self.directory.path}: record of problem {record.get('problem_id')!r} has neither 'format' (a trace) "
            "nor 'variant' (a priming record): the structural tagger reads only metacot's own records"
        )

    def _trace(self, record: dict, tree: SearchTree) -> BehaviorCounts:
        fmt = record["format"]
        if fmt not in FORMATS:
            raise RunDirError(f"{self.directory.path}: record of problem {tree.problem_id!r}: unknown format {fmt!r}")
        trace, solution = trace_to_solution(tree, self.stop_at_first_solution)
        problem = self.domain.problem_from_dict(tree.problem)
        context = Context(tree, self.domain, problem, LinearizeConfig().value_lines, solution)
        moves = FORMATS[fmt].moves(context, walk(tree, trace))  # the moves its record is written from
        assert moves is not None, f"a {fmt} record answers with a solution"
        FORMATS[fmt].render(context, moves)
        return _counts({VERIFICATION: context.checks, BACKTRACKING: count_backtracks(moves)})

    def _priming(self, record: dict, tree: SearchTree) -> BehaviorCounts:
        shown = variant(record["variant"]).for_domain(self.domain)
        trace = think_trace(tree, self.domain, shown, list(record.get("attempts") or []), int(record.get("seed", 0)))
        return _counts(dict(trace.counts))


def _counts(found: dict[str, int]) -> BehaviorCounts:
    return BehaviorCounts({name: found.get(name, 0) for name in BEHAVIORS})
