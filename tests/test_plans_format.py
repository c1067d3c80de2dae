"""The plans option of the metacot format: subgoals and backward chains woven from the path the trace then takes,
true where they are said and kept by the steps after them, as both audits (the tree's and the reader's) check."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from test_prime import BACKWARD, SUBGOAL, follow

from metacot.cli import main
from metacot.linearize.audit import audit_record
from metacot.linearize.reader import read_record
from metacot.outputs.rundir import RunDir


def traces(run, fmt: str) -> list[dict]:
    return [orjson.loads(line) for line in (run / "traces" / f"{fmt}.jsonl").read_bytes().splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("plans") / "run"
    flags = ["--num-problems", "30", "--no-progress", "--set", "linearize.plans=true"]
    assert main(["synth", "--out", str(out), *flags]) == 0
    return out


def test_plans_are_said_pursued_and_audited_clean(run):
    targets = {tree.problem_id: int(tree.problem["target"]) for tree in RunDir(run).iter_trees()}
    records = traces(run, "metacot")
    seen: Counter[str] = Counter()
    for record in records:
        seen += follow(record["completion"], targets[record["problem_id"]])
    assert seen["subgoals"] >= len(records) and seen["chains"] >= 0.9 * len(records), seen
    assert seen["pursued"] == seen["subgoals"] and seen["completed"] == seen["chains"], seen
    assert main(["audit", str(run), "--format", "metacot", "--format", "cot", "--no-progress"]) == 0


def test_a_subgoal_the_steps_ignore_or_a_false_chain_fails_both_audits(run):
    directory = RunDir(run)
    domain = directory.domain()
    trees = {tree.problem_id: tree for tree in directory.iter_trees()}
    record = next(r for r in traces(run, "metacot") if BACKWARD.search(r["completion"]))
    tree, lines = trees[record["problem_id"]], record["completion"].split("\n")

    def changed(index: int, old: str, new: str) -> dict:
        line = lines[index].replace(old, new, 1)
        assert line != lines[index]
        return dict(record, completion="\n".join([*lines[:index], line, *lines[index + 1 :]]))

    said = next(i for i, line in enumerate(lines) if SUBGOAL.fullmatch(line))
    value = SUBGOAL.fullmatch(lines[said])[1]  # type: ignore[index]
    checked = lines.index(f"That's {value}, the subgoal.")
    chained = next(i for i, line in enumerate(lines) if BACKWARD.fullmatch(line))
    need = BACKWARD.fullmatch(lines[chained])[5]  # type: ignore[index]
    for wrong in (
        changed(said, f"get {value}", f"get {int(value) + 1}"),  # a subgoal the steps do not make
        changed(checked, f"That's {value}", f"That's {int(value) + 1}"),  # a check of a number not made
        changed(chained, f"need {need}", f"need {int(need) + 1}"),  # a false chain, never completed
    ):
        assert audit_record(wrong, tree, domain).failures, wrong["completion"]
        assert read_record(wrong, domain, domain.problem_from_dict(tree.problem)), wrong["completion"]


def test_the_structural_tagger_counts_the_plan_sentences_as_written(run):
    from metacot.behaviors.measure.structural import StructuralTagger

    tagger = StructuralTagger(run)
    for fmt in ("metacot", "cot"):
        records = traces(run, fmt)
        counts = [c.counts for c in tagger.tag(records)]
        for record, found in zip(records, counts, strict=True):
            lines = record["completion"].split("\n")
            assert found["subgoal_setting"] == sum(bool(SUBGOAL.fullmatch(line)) for line in lines), record
            assert found["backward_chaining"] == sum(bool(BACKWARD.fullmatch(line)) for line in lines), record
        both = [c for c in counts if c["subgoal_setting"] and c["backward_chaining"] and c["verification"]]
        assert len(both) >= 0.8 * len(records), (fmt, counts)
        if fmt == "metacot":  # the search's own trace: all four habits
            assert sum(bool(c["backtracking"]) for c in both) >= 0.8 * len(records), counts


def test_plans_are_off_by_default(tmp_path):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--num-problems", "8", "--no-progress"]) == 0
    text = "".join(r["completion"] for r in traces(out, "metacot"))
    assert "First I'll try" not in text and "Working backwards" not in text
