"""The structural tagger: exact behaviour counts of metacot's own records, from their trees and the text they render.

A trace record (a `format` field) is rendered again from its tree with the run's linearize settings, in its own
format, and counted only when its text is that rendering (else unknown, None: the counts would not be of the text):
backtracking is the number of backtrack moves that format writes (its jumps back: the sos log's returns to a state
written before, not the search's walk; the record's num_backtracks), verification the number of verdict sentences
it writes (finished-path checks, failed steps, mistakes found); subgoal setting and backward chaining are the plan
sentences its text writes (`metacot` and `cot` with the plans option, linearize.plans: "First I'll try to get ...",
"Working backwards, ..."), none in any other trace.
The strict backtracking reading is read from the text by its format's reader (linearize.reader; a domain of numbers
toward a target): the jumps back made after the text says the path fails. A priming record (a `variant` field) is
rendered again from its tree, its attempts and its seed, and its typed lines are counted; each of its backtracks is
strict, its go-back saying first that the path it leaves did not work (prime.attempts.go_back). A record whose tree
is missing is counted as unknown (None).
"""

from __future__ import annotations

from pathlib import Path

import orjson

from metacot.behaviors.definitions import BACKTRACKING, BACKWARD_CHAINING, BEHAVIORS, SUBGOAL_SETTING, VERIFICATION
from metacot.behaviors.measure.base import STRICT_BACKTRACKING, BehaviorCounts
from metacot.behaviors.prime.datasets import think_trace
from metacot.behaviors.prime.variants import variant
from metacot.linearize.config import LinearizeConfig
from metacot.linearize.formats import FORMATS
from metacot.linearize.plancheck import CHAIN_LINE, SUBGOAL_LINE
from metacot.linearize.reader import READERS, body, reads
from metacot.linearize.reader.events import EXHAUSTED, Back, Event, Reached, Tried
from metacot.linearize.reader.reading import Reading
from metacot.linearize.reasons import MISTAKE
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
        settings = self._settings()
        self.stop_at_first_solution = bool(settings.get("stop_at_first_solution", True))
        self.value_lines = bool(settings.get("value_lines", LinearizeConfig.value_lines))
        self.plans = bool(settings.get("plans", LinearizeConfig.plans))

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
        context = Context(tree, self.domain, problem, self.value_lines, solution, plans=self.plans)
        moves = FORMATS[fmt].moves(context, walk(tree, trace))  # the moves its record is written from
        assert moves is not None, f"a {fmt} record answers with a solution"
        lines = FORMATS[fmt].render(context, moves)
        text = record.get("completion") or ""
        if self.domain.step_delimiter.join(lines) not in text:
            return BehaviorCounts(dict.fromkeys(BEHAVIORS))  # not the text its tree renders: its counts are unknown
        written = plan_sentences(text.split(self.domain.step_delimiter))
        counts = _counts({VERIFICATION: context.checks, BACKTRACKING: count_backtracks(moves), **written})
        counts.counts[STRICT_BACKTRACKING] = self._strict(fmt, text, problem)
        return counts

    def _strict(self, fmt: str, text: str, problem: object) -> int | None:
        """The strict backtracks of a trace's text, as its format's reader reads it (None: no reader for it)."""
        read = body(text, self.domain.step_delimiter)
        if read is None or fmt not in READERS or not reads(self.domain):
            return None
        reading = Reading(self.domain, problem)
        READERS[fmt](reading, read[0])
        return realised_backtracks(reading.events)

    def _priming(self, record: dict, tree: SearchTree) -> BehaviorCounts:
        shown = variant(record["variant"]).for_domain(self.domain)
        trace = think_trace(tree, self.domain, shown, list(record.get("attempts") or []), int(record.get("seed", 0)))
        counts = _counts(dict(trace.counts))
        counts.counts[STRICT_BACKTRACKING] = trace.counts[BACKTRACKING]  # each go-back says the path did not work
        return counts


def _counts(found: dict[str, int]) -> BehaviorCounts:
    return BehaviorCounts({name: found.get(name, 0) for name in BEHAVIORS})


def plan_sentences(lines: list[str]) -> dict[str, int]:
    """The subgoals and backward chains the lines of a text state, as linearize.plans writes them."""
    return {
        SUBGOAL_SETTING: sum(bool(SUBGOAL_LINE.fullmatch(line)) for line in lines),
        BACKWARD_CHAINING: sum(bool(CHAIN_LINE.fullmatch(line)) for line in lines),
    }


def realised_backtracks(events: list[Event]) -> int:
    """The jumps back the text makes after saying the path it leaves does not work: after a step whose own check
    failed, with an exhausted branch or a mistake as the reason (a format that gives reasons), or, in a format that
    lists every operation at a state (sos), when every one it listed there failed its check."""
    count = tried = failed = 0
    for event in events:
        if isinstance(event, Back):
            said = event.reason in (EXHAUSTED, MISTAKE) if event.reasons else tried > 0 and failed == tried
            count += event.after_failure or said
        if isinstance(event, (Back, Reached)):
            tried = failed = 0
        elif isinstance(event, Tried) and event.listed:
            tried += 1
            failed += event.result is None and not event.wins
    return count
