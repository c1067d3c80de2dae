"""The reader's audit (`metacot audit --reader`): traces read from their text and problem alone, each sentence into
events by the writers' own templates, and each reader-level check catching a hand-made bad trace and passing a good
one."""

from __future__ import annotations

import orjson
import pytest

from metacot.cli import main
from metacot.linearize.reader import checks as reader_checks
from metacot.linearize.reader import read_record, read_records
from metacot.linearize.reader.checks import (
    ARITHMETIC,
    BUILT_ON_WRONG,
    EXHAUSTED_STEPPED,
    REASONLESS_BACK,
    REDISCOVERED,
    REPAIR_FIRST,
    REPEATED,
    ROUNDING,
    UNSUPPORTED,
    WIN_LEFT,
    WIN_UNSHOWN,
)
from metacot.linearize.reader.events import (
    EXHAUSTED,
    INCOHERENT,
    UNREADABLE,
    Answered,
    Back,
    Concluded,
    Named,
    Reached,
    Tried,
    Violation,
)
from metacot.linearize.reader.quality import boilerplate, templates
from metacot.linearize.reader.reading import Reading
from metacot.linearize.reader.sentences import read_metacot
from metacot.outputs.rundir import RunDir
from metacot.problems import CountdownDomain

IMMEDIATE, WHEN_FOUND = CountdownDomain(), CountdownDomain(notice="when-found")
PROBLEM = IMMEDIATE.problem_from_dict({"id": "p", "numbers": [2, 3, 5], "target": 25})
WIN = "(2 + 3) * 5"
GOOD = [
    "2 * 3 = 6. Now I have [5, 6].",
    "From [5, 6]: 5 + 6 = 11 (11 is not 25); 5 * 6 = 30 (30 is not 25).",
    "Every step I tried from [5, 6] failed to reach 25. Let me go back to [2, 3, 5] and try something else.",
    "2 + 3 = 5. Now I have [5, 5].",
    "5 * 5 = 25. 25 = 25, the target.",
]


def record(lines: list[str], fmt: str = "metacot", answer: str = WIN) -> dict:
    completion = "<think>\n" + "\n".join(lines) + f"\n</think>\n<answer> {answer} </answer>"
    return {"problem_id": "p", "format": fmt, "prompt": "", "completion": completion}


def kinds(lines: list[str], fmt: str = "metacot", domain: CountdownDomain = IMMEDIATE) -> set[str]:
    return {v.kind for v in read_record(record(lines, fmt), domain, PROBLEM)}


def events(lines: list[str], domain: CountdownDomain = IMMEDIATE) -> list:
    reading = Reading(domain, PROBLEM)
    read_metacot(reading, lines)
    return reading.events


def test_known_sentences_read_into_events():
    read = events(GOOD)
    assert [type(e) for e in read] == [Tried, Reached, Tried, Tried, Concluded, Back, Tried, Reached, Tried]
    step, reached, attempt = read[0], read[1], read[2]
    assert (step.step, step.listed, step.wins) == ("2 * 3 = 6", False, False)
    assert reached.key == step.result and reached.win is None
    assert attempt.listed and attempt.origin == step.result and attempt.result is None
    conclusion, back = read[4], read[5]
    assert (conclusion.how, conclusion.key) == (EXHAUSTED, step.result)
    assert back.to == step.origin and back.reason == EXHAUSTED and back.reasons
    assert read[7].win is not None  # [5, 5] is one move from 25
    assert read[8].wins
    assert kinds(GOOD) == set()


def test_a_slip_named_and_repaired_reads_as_such():
    lines = ["2 * 3 = 7. Wait, that's wrong: 2 * 3 is 6, not 7.", "2 * 3 = 6. Now I have [5, 6]."]
    slip, repair = events(lines)[:2]
    assert slip.wrong == "2 * 3 is 6, not 7" and slip.named and slip.result is None
    assert repair.repairs and repair.wrong is None
    assert slip.corrects == (repair.origin, "2 * 3 = 6") and REPAIR_FIRST not in kinds(lines)


def test_a_check_below_names_the_slip_of_a_path_taken_at_face_value():
    lines = [
        "2 * 3 = 7. Now I have [5, 7].",
        "5 * 7 = 35. Checking the steps: 2 * 3 is 6, not 7.",
        "The mistake was in 2 * 3 = 7. Let me go back to [2, 3, 5] and try something else.",
        "2 * 3 = 6. Now I have [5, 6].",
    ]
    read = events(lines, WHEN_FOUND)
    assert read[0].wrong == "2 * 3 is 6, not 7" and not read[0].named
    assert any(isinstance(e, Named) and e.wrong == "2 * 3 is 6, not 7" for e in read)
    assert read[-2].repairs
    assert kinds(lines, domain=WHEN_FOUND) <= {WIN_UNSHOWN}  # [5, 6] leaves no win; nothing else is wrong


def test_numbers_a_wrong_result_gave_are_no_state_a_right_step_reaches_again():
    """[5, 6] claimed by a slip the text then names is not where the text stood: reaching it rightly is no repeat."""
    lines = [
        "2 + 3 = 6. Now I have [5, 6].",
        "Checking the steps of the paths I finished from [5, 6]: 2 + 3 is 5, not 6. The mistake was in 2 + 3 = 6. "
        "Going back to [2, 3, 5].",
        "2 * 3 = 6. Now I have [5, 6].",
        "From [5, 6]: 5 + 6 = 11 (11 is not 25); 5 * 6 = 30 (30 is not 25).",
        "Every step I tried from [5, 6] failed to reach 25. Let me go back to [2, 3, 5] and try something else.",
        *GOOD[3:],
    ]
    assert kinds(lines, domain=WHEN_FOUND) == set()


BACK = "Going back to [2, 3, 5]."
SIX, FIVES = "2 * 3 = 6. Now I have [5, 6].", "2 + 3 = 5. Now I have [5, 5]."
TIE = "This scores 1.00, and another step scores 1.00 too, so let me try that one as well."


@pytest.mark.parametrize(
    "kind, lines",
    [
        (UNSUPPORTED, [GOOD[0], *GOOD[2:]]),  # the attempts line dropped
        (EXHAUSTED_STEPPED, [*GOOD[:3], "I'll go back to [5, 6] and try another step.", "6 - 5 = 1. 1 is not 25."]),
        (WIN_LEFT, [*GOOD, f"{TIE} {BACK}", "2 * 5 = 10. Now I have [3, 10]."]),
        (WIN_UNSHOWN, [FIVES, f"This looks unlikely (value 0.10). {BACK}", SIX]),
        (REPEATED, [FIVES, f"This looks unlikely (value 0.10). {BACK}", "3 + 2 = 5. Now I have [5, 5].", GOOD[-1]]),
        (REDISCOVERED, ["2 * 3 = 7. Wait, that's wrong: 2 * 3 is 6, not 7."] * 2 + GOOD[3:]),
        # the correction written, then the slip it corrects: as a step, or listed among failed steps
        (REPAIR_FIRST, [SIX, f"This looks unlikely (value 0.10). {BACK}", "2 * 3 = 7. Wait, that's wrong: 2 * 3 is 6, "
                        "not 7.", *GOOD[3:]]),
        (REPAIR_FIRST, [*GOOD[:2], f"This looks unlikely (value 0.10). {BACK}", FIVES, "This looks unlikely (value "
                        "0.10). Going back to [5, 6].", "5 + 6 = 12. Wait, that's wrong: 5 + 6 is 11, not 12."]),
        (REASONLESS_BACK, [SIX, f"Let me also try a different branch. {BACK}", *GOOD[3:]]),
        (REASONLESS_BACK, [SIX, BACK, *GOOD[3:]]),
        (ROUNDING, [SIX, f"This scores 0.50; another option looks better (0.40). {BACK}", *GOOD[3:]]),
        (ROUNDING, [SIX, f"This looks unlikely (value 0.30). {BACK}", *GOOD[3:]]),
        (INCOHERENT, ["2 * 3 = 6. Now I have [5, 7].", *GOOD[1:]]),
        (INCOHERENT, [*GOOD[:2], "Every step I tried from [5, 6] failed to reach 25. Going back to [1, 2]."]),
        (UNREADABLE, [GOOD[0], "[5, 6] again, explored above.", *GOOD[1:]]),
    ],
)
def test_each_check_catches_a_bad_trace(kind, lines):
    assert kind in kinds(lines)


def test_a_step_built_on_a_slip_called_wrong_and_an_unnamed_slip_are_caught():
    wrong = ["2 * 3 = 7. Now I have [5, 7].", "5 * 7 = 35. Checking the steps: 2 * 3 is 6, not 7."]
    built = [*wrong, "5 + 7 = 12. Checking the steps: 2 * 3 is 6, not 7."]
    assert {BUILT_ON_WRONG, REDISCOVERED} <= kinds(built, domain=WHEN_FOUND)
    unnamed = [
        "2 * 3 = 7. Now I have [5, 7].",
        "The value of [5, 7] is low (0.00). Going back to [2, 3, 5].",
        *GOOD[3:],
    ]
    assert ARITHMETIC in kinds(unnamed, domain=WHEN_FOUND)
    assert ARITHMETIC not in kinds(
        [*wrong, "The mistake was in 2 * 3 = 7. Going back to [2, 3, 5].", *GOOD[3:]], domain=WHEN_FOUND
    )


def test_the_checks_read_events_alone():
    back = Back("back", (1,), None, after_failure=True, reasons=True)
    assert list(reader_checks.reasonless([back])) == []  # after a step whose check said it failed
    assert list(reader_checks.reasonless([Back("b", (1,), None, False, reasons=False)])) == []  # sos, paper
    win = Tried("win", (1,), "a", None, wins=True, hides_win=False, wrong=None, named=False)
    assert list(reader_checks.wins_left([win, Answered("answer", True)])) == []
    assert [v.kind for v in reader_checks.wins_left([win, back])] == [WIN_LEFT]


def test_tokens_sos_and_paper_read_as_their_writers_write(tmp_path):
    """Every line of a fresh run's records, in every format, is read (no unreadable or incoherent line): the readers
    follow the writers' templates, under both rules for wrong results."""
    for notice, flags in (("immediate", []), ("when-found", ["--notice", "when-found", "--mistake-rate", "0.3"])):
        out = tmp_path / notice
        formats = "metacot,tokens,sos,cot,paper"
        assert (
            main(["synth", "--out", str(out), "--no-progress", "--num-problems", "12", "--formats", formats, *flags])
            == 0
        )
        problems = {tree.problem_id: tree.problem for tree in RunDir(out).iter_trees()}
        domain = WHEN_FOUND if notice == "when-found" else IMMEDIATE
        for fmt in formats.split(","):
            rows = [orjson.loads(line) for line in (out / "traces" / f"{fmt}.jsonl").read_bytes().splitlines()]
            pairs = ((r, domain.problem_from_dict(problems[r["problem_id"]]), True) for r in rows)
            report = read_records(pairs, domain, fmt)
            assert report.records == len(rows) > 0 and report.checked
            assert report.counts[UNREADABLE] == report.counts[INCOHERENT] == 0, (fmt, report.failures[:3])


def test_the_quality_summary_masks_numbers_states_and_steps():
    assert templates("2 * 3 = 6. Now I have [5, 6].") == ["STEP.", "Now I have S."]
    assert templates("Moving to Node #0,3,1") == ["Moving to Node #N"]
    assert boilerplate("2 * 3 = 6. Now I have [5, 6].") == (3, 10)


def test_audit_exits_1_on_a_reader_violation_and_not_with_no_reader(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--no-progress", "--num-problems", "6", "--formats", "cot"]) == 0
    capsys.readouterr()
    assert main(["audit", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "reader: 6 records, 0 violations: none" in printed and "sentence templates" in printed

    def always(events):
        yield Violation(REPEATED, "a line", "a violation")

    monkeypatch.setattr(reader_checks, "CHECKS", (always,))
    assert main(["audit", str(out), "--no-progress"]) == 1
    assert f"6 violations: {REPEATED} 6" in capsys.readouterr().out
    assert main(["audit", str(out), "--no-progress", "--no-reader"]) == 0
    assert "reader:" not in capsys.readouterr().out


def test_best_of_n_chains_are_read_as_independent_samples(tmp_path, capsys):
    """Best-of-N does not merge transpositions: its chains, each sampled from the start, may reach the same numbers.
    Read by numbers (a search that merged them), the second chain covers ground twice; read as its search knows its
    states (by the steps that reached them), the chains are independent samples. The audit reads each record as its
    tree says (SearchTree.transpositions_merged)."""
    again = "Every step I tried from [5, 6] failed to reach 25. Let me pick up again from [2, 3, 5]."
    chains = [SIX, "5 + 6 = 11. 11 is not 25.", again, "3 * 2 = 6. Now I have [5, 6].", "6 * 5 = 30. 30 is not 25.",
              again, FIVES, GOOD[-1]]  # fmt: skip
    by_numbers = {v.kind for v in read_record(record(chains), IMMEDIATE, PROBLEM)}
    assert {REPEATED, EXHAUSTED_STEPPED} <= by_numbers
    assert read_record(record(chains), IMMEDIATE, PROBLEM, by_numbers=False) == []

    problems = tmp_path / "problems.jsonl"
    problems.write_text('{"id": "p", "numbers": [2, 3, 5], "target": 25}\n')
    out = tmp_path / "run"
    run = ["synth", "--problems", str(problems), "--out", str(out), "--search", "best_of_n", "--formats", "metacot"]
    assert main([*run, "--no-progress"]) == 0
    tree = next(RunDir(out).iter_trees())
    assert not tree.transpositions_merged
    row = {**record(chains), "problem_id": tree.problem_id, "correct": True}
    (out / "traces" / "metacot.jsonl").write_bytes(orjson.dumps(row) + b"\n")
    capsys.readouterr()
    main(["audit", str(out), "--no-progress"])  # the tree's claims fail (its chains are others): not read here
    assert "reader: 1 records, 0 violations: none" in capsys.readouterr().out
