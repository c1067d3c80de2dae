"""Taggers count what the text shows: per-format counts from each format's text, the strict backtracking reading,
count agreement, hand labels, and the heuristic's recall on paper-style paraphrases."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from metacot.behaviors.definitions import BEHAVIORS
from metacot.behaviors.measure.base import STRICT_BACKTRACKING, BehaviorCounts
from metacot.behaviors.measure.heuristic import HeuristicTagger, count_behaviors
from metacot.behaviors.measure.report import Agreement
from metacot.behaviors.measure.structural import StructuralTagger
from metacot.cli import main

PARAPHRASES = Path(__file__).parent / "data" / "paraphrases"
MOVE = re.compile(r"^Moving to Node #([\d,]+)$")


def read(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("counts") / "run"
    flags = ["--num-problems", "30", "--formats", "metacot,sos,tokens,paper", "--mistake-rate", "0.2"]
    assert main(["synth", "--out", str(out), "--no-progress", *flags, "--notice", "when-found"]) == 0
    return out


def sos_jumps(completion: str) -> int:
    """The returns in a sos log's text: moves to a node the log stood at before."""
    stood, jumps = {"0"}, 0
    for line in completion.splitlines():
        m = MOVE.match(line)
        if m:
            jumps += m[1] in stood
            stood.add(m[1])
    return jumps


def test_sos_backtracks_are_the_jumps_in_the_sos_text(run):
    records = read(run / "traces" / "sos.jsonl")
    counts = StructuralTagger(run).tag(records)
    jumps = [sos_jumps(r["completion"]) for r in records]
    assert [c.counts["backtracking"] for c in counts] == jumps and sum(jumps) > 0
    metacot = {r["problem_id"]: r["num_backtracks"] for r in read(run / "traces" / "metacot.jsonl")}
    assert sum(jumps) < sum(metacot[r["problem_id"]] for r in records)  # not the search's walk, which metacot writes


def test_a_text_its_tree_does_not_render_is_not_counted(run):
    record = read(run / "traces" / "sos.jsonl")[0]
    edited = {**record, "completion": record["completion"].replace("Moving to Node #", "Moving to #")}
    (counted,) = StructuralTagger(run).tag([edited])
    assert counted.unparsed == list(BEHAVIORS)


def test_strict_backtracks_follow_a_realisation_and_both_taggers_read_them_alike(run):
    structural, heuristic = StructuralTagger(run), HeuristicTagger()
    for fmt in ("metacot", "tokens", "sos", "paper"):
        records = read(run / "traces" / f"{fmt}.jsonl")
        exact, ours = structural.tag(records), heuristic.tag(records)
        strict = [c.counts[STRICT_BACKTRACKING] for c in exact]
        assert all(0 <= s <= c.counts["backtracking"] for s, c in zip(strict, exact, strict=True))  # type: ignore[operator]
        assert 0 < sum(strict) < sum(c.counts["backtracking"] or 0 for c in exact), fmt  # some jumps are plain
        if fmt != "paper":  # paper's "Alternatively," after a failed step: the heuristic cannot tell which step failed
            assert [c.counts[STRICT_BACKTRACKING] for c in ours] == strict, fmt


def test_the_strict_reading_needs_the_path_said_to_fail():
    plain = "60 / 3 = 20. Let me return to [3, 60] and try a different step."
    realised = "60 / 3 = 20. 20 is not 24. Let me return to [3, 60] and try a different step."
    exhausted = "None of the steps I tried from [3, 60] reach 24. Going back to [3, 4, 60]."
    assert [count_behaviors(t, 24)[STRICT_BACKTRACKING] for t in (plain, realised, exhausted)] == [0, 1, 1]
    assert all(count_behaviors(t, 24)["backtracking"] == 1 for t in (plain, realised, exhausted))


def test_a_mistake_backtrack_that_writes_the_correction_is_one_strict_backtrack():
    text = (
        "So 39 * 45 = 1753 was wrong, and every step after it built on that. Its right version, 39 * 45 = 1755, "
        "scores 0.00; another option scores higher (1.00). Let me go back to [39, 56, 128] and try something else."
    )
    counts = count_behaviors(text, 33)
    assert counts["backtracking"] == counts[STRICT_BACKTRACKING] == 1


def test_a_sos_return_is_strict_only_after_a_listing_that_failed_everywhere():
    failed = (
        "Current State: 24:[5, 6]\nExploring Operation: 5+6=11, Resulting Numbers: [11]\n11,24 unequal: No Solution"
    )
    generated = (
        "Exploring Operation: 4+5=9, Resulting Numbers: [9, 6]\nGenerated Node #0,0,0: 24:[9, 6] Operation: 4+5=9"
    )
    log = "\n".join(
        [
            "Moving to Node #0,0",
            generated,
            "Moving to Node #0,1",
            "Moving to Node #0,1,0",
            failed,
            "Moving to Node #0,2",
        ]
    )
    counted = count_behaviors(log)
    assert (counted["backtracking"], counted[STRICT_BACKTRACKING]) == (2, 1)


@pytest.mark.parametrize(
    ("text", "target", "shown"),
    [
        ("The target 91 is 7 * 13, so the goal is to form 13 from 6, 19 and 1.", 91, {"subgoal", "backward"}),
        ("Working from the end, 75 = 3 * 25, so the two 4s have to cancel out.", 75, {"backward"}),
        ("Since 96 = 16 * 6, the task reduces to making 16 from 4, 5 and 10.", 96, {"subgoal", "backward"}),
        ("2 * 8 = 16, not 30. That plan doesn't pan out. New plan: 30 * 2 = 60.", 75, {"verification", "backtracking"}),
        ("(2 + 3) * 5 = 25, then + 4 = 29. No. 5 * 4 = 20, 20 + 3 * 2 = 26.", 26, {"verification", "backtracking"}),
        ("Now I have [2, 12, 79]. 79 - 2 = 77. Now I have [12, 77].", 61, set()),
    ],
)
def test_paper_style_phrasings(text, target, shown):
    names = {"subgoal": "subgoal_setting", "backward": "backward_chaining"}
    counted = count_behaviors(text, target)
    assert {name for name in BEHAVIORS if counted[name]} == {names.get(s, s) for s in shown}


def labelled(half: str) -> Agreement:
    records = read(PARAPHRASES / f"{half}.jsonl")
    tally = Agreement()
    for record, counted in zip(records, HeuristicTagger().tag(records), strict=True):
        tally.add(counted, BehaviorCounts({name: int(record["habits"][name]) for name in BEHAVIORS}))
    return tally


@pytest.mark.parametrize("half", ["tune", "heldout"])
def test_the_heuristic_finds_most_habits_in_paper_style_paraphrases(half):
    tally = labelled(half)
    assert sum(tally.both.values()) >= 4 * 25
    for name in BEHAVIORS:
        assert tally.theirs[name] >= 9 and tally.found[name] >= 0.8 * tally.theirs[name], name  # recall
        assert tally.found[name] >= 0.9 * tally.ours[name], name  # precision


def test_agreement_compares_counts_exactly_and_within_one():
    ours = [BehaviorCounts({"verification": n, "backtracking": 0}) for n in (2, 3, 5, 0)]
    theirs = [BehaviorCounts({"verification": 2, "backtracking": 0}) for _ in range(4)]
    tally = Agreement()
    for x, y in zip(ours, theirs, strict=True):
        tally.add(x, y)
    assert (tally.agree["verification"], tally.exact["verification"], tally.near["verification"]) == (3, 1, 2)
    assert tally.both["subgoal_setting"] == 0 and tally.both[STRICT_BACKTRACKING] == 0  # not counted by both


def test_labels_give_recall_and_precision_and_bad_labels_one_line(tmp_path, capsys):
    records = [
        {
            "completion": "56 is not 24. Let me try a different combination.",
            "target": 24,
            "habits": {"verification": 1},
        },
        {"completion": "3 * 8 = 24.", "target": 24, "habits": {"verification": True, "backtracking": False}},
    ]
    data = tmp_path / "x.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    assert main(["behaviors", str(data), "--labels", "habits", "--no-progress"]) == 0
    printed = capsys.readouterr().out.splitlines()
    header, row = printed[-2:]
    assert header.split() == ["file", "verification", "backtracking"]
    assert row == "x.jsonl  R 50% (1/2) P 100% (1/1)  R - (0/0) P - (0/0)"
    data.write_bytes(orjson.dumps({"completion": "x", "habits": {"verification": "yes"}}) + b"\n")
    assert main(["behaviors", str(data), "--labels", "habits", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "x.jsonl, record 1: --labels habits: verification: expected true/false" in error
