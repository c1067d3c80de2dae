"""`metacot behaviors` on JSONL files and run directories: the table, each tagger's rows, the plot, bad lines."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import orjson
import pytest
from behaviors_fixtures import FIXTURES

from metacot.behaviors.measure.base import COLUMNS
from metacot.behaviors.measure.heuristic import count_behaviors
from metacot.behaviors.measure.registry import default_tagger
from metacot.cli import main


def write_jsonl(path: Path, records: list) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def rows(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def behaviors(*args: str) -> int:
    return main(["behaviors", "--no-progress", *args])


def test_a_jsonl_file_is_tagged_by_the_heuristic_by_default(tmp_path, capsys):
    records = [{"response": f.completion, "target": f.target} for f in FIXTURES]
    data = write_jsonl(tmp_path / "outputs.jsonl", records)
    assert behaviors(str(data), "--field", "response") == 0
    printed = capsys.readouterr().out
    header, row = printed.splitlines()[1:3]
    assert header.split() == ["file", "records", *COLUMNS, "unparsed"]
    assert row.split()[:2] == ["outputs.jsonl", str(len(FIXTURES))] and row.split()[-1] == "0"
    out = tmp_path / "outputs-behaviors"
    written = rows(out / "heuristic.jsonl")
    assert [r["index"] for r in written] == list(range(len(FIXTURES)))
    for r, f in zip(written, FIXTURES, strict=True):
        assert r["file"] == "outputs.jsonl" and r["tagger"] == "heuristic"
        assert {name: r[name] for name in COLUMNS} == count_behaviors(f.completion, f.target)
    shows_verification = sum(r["verification"] > 0 for r in written) / len(written)
    assert f"{shows_verification:.0%} (" in row
    if find_spec("matplotlib") is not None:
        assert (out / "heuristic.png").stat().st_size > 0


def test_chat_messages_give_the_assistant_turn_and_the_user_turn_gives_the_target(tmp_path, capsys):
    chat = [
        {"role": "user", "content": "Using the numbers [8, 3], create an equation that equals 24."},
        {"role": "assistant", "content": "8 + 3 = 11. 11 is not 24. Let me try a different combination: 8 * 3 = 24."},
    ]
    data = write_jsonl(tmp_path / "chats.jsonl", [{"messages": chat}])
    assert behaviors(str(data), "--out", str(tmp_path / "o")) == 0
    (r,) = rows(tmp_path / "o" / "heuristic.jsonl")
    assert r["verification"] == 1 and r["backtracking"] == 1


def test_a_run_directory_is_tagged_per_format_and_metacot_backtracks_match_the_records(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["synth", "--out", str(run), "--no-progress", "--num-problems", "12", "--formats", "metacot,sos"]) == 0
    capsys.readouterr()
    assert behaviors(str(run), "--tagger", "heuristic") == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[1].split()[0] == "format"
    groups = [line.split()[0] for line in printed.splitlines()[2:4]]
    assert groups == ["metacot", "sos"]
    written = rows(run / "behaviors" / "heuristic.jsonl")
    traces = [orjson.loads(line) for line in (run / "traces" / "metacot.jsonl").read_bytes().splitlines()]
    metacot = [r for r in written if r["format"] == "metacot"]
    assert len(metacot) == len(traces) and len(written) == 2 * len(traces)
    assert [r["problem_id"] for r in metacot] == [t["problem_id"] for t in traces]
    assert [r["backtracking"] for r in metacot] == [t["num_backtracks"] for t in traces]


def test_the_default_tagger_is_structural_for_a_run_and_heuristic_for_a_file(tmp_path, capsys):
    assert default_tagger(tmp_path) == "heuristic"  # a folder of JSONL files
    (tmp_path / "traces").mkdir()
    assert default_tagger(tmp_path) == "structural"  # a run
    assert default_tagger(tmp_path / "prime") == "structural"  # its priming records
    assert default_tagger(tmp_path / "x.jsonl") == "heuristic"
    data = write_jsonl(tmp_path / "x.jsonl", [{"completion": "1 + 1 = 2."}])
    assert behaviors(str(data), "--tagger", "nope") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "unknown tagger 'nope'; known: structural, heuristic, llm" in error


def test_the_structural_tagger_counts_a_run_and_the_heuristic_is_compared_with_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["synth", "--out", str(run), "--no-progress", "--num-problems", "12", "--formats", "metacot,cot"]) == 0
    capsys.readouterr()
    assert behaviors(str(run), "--agree-with", "structural", "--tagger", "heuristic") == 0
    printed = capsys.readouterr().out.splitlines()
    at = printed.index("agreement with structural: share of records agreeing on presence/exact count/count within one")
    header, *agreed = printed[at + 1 : at + 4]
    assert header.split() == ["format", *COLUMNS]
    cells = {line.split()[0]: dict(zip(COLUMNS, line.split()[1:], strict=True)) for line in agreed}
    assert sorted(cells) == ["cot", "metacot"]
    # metacot's own backtracks: both count each one, and both read the same ones as strict
    assert all(c["backtracking"] == c["strict_backtracking"] == "100%/100%/100%" for c in cells.values())
    assert behaviors(str(run)) == 0  # structural by default: the counts come from the trees
    written = rows(run / "behaviors" / "structural.jsonl")
    traces = [orjson.loads(line) for line in (run / "traces" / "metacot.jsonl").read_bytes().splitlines()]
    assert [r["backtracking"] for r in written if r["format"] == "metacot"] == [t["num_backtracks"] for t in traces]
    assert all(r["tagger"] == "structural" for r in written)
    heuristic = rows(run / "behaviors" / "heuristic.jsonl")  # each tagger writes its own file: nothing replaced
    assert len(heuristic) == len(written) and all(r["tagger"] == "heuristic" for r in heuristic)
    if find_spec("matplotlib") is not None:
        assert {p.name for p in (run / "behaviors").glob("*.png")} == {"heuristic.png", "structural.png"}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"completion": "a"}', "", '{"completion": "b"', '{"completion": "c"}'], "x.jsonl:3: not valid JSON"),
        (['{"completion": "a"}', '{"text": "b"}'], "x.jsonl:2: no text field 'completion'"),
        (['{"completion": "a"}', '["completion"]'], "x.jsonl:2: not a JSON object"),
        (['{"completion": 7}'], "x.jsonl:1: no text field 'completion'"),
    ],
)
def test_bad_input_is_named_by_file_and_line(tmp_path, capsys, lines, message):
    data = tmp_path / "x.jsonl"
    data.write_text("\n".join(lines) + "\n")
    assert behaviors(str(data)) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_missing_inputs_and_bad_settings_are_one_line_errors(tmp_path, capsys):
    assert behaviors(str(tmp_path / "nothing.jsonl")) == 2
    assert "nothing.jsonl: no such file or run directory" in capsys.readouterr().err
    assert behaviors(str(tmp_path), "--tagger", "heuristic") == 2
    assert "a directory without trace files" in capsys.readouterr().err
    data = write_jsonl(tmp_path / "x.jsonl", [{"completion": "a"}])
    assert behaviors(str(data), "--batch", "0") == 2
    assert "--batch: must be at least 1" in capsys.readouterr().err
    assert behaviors(str(data), "--set", "judge.nope=1") == 2
    assert "judge.nope is not a setting" in capsys.readouterr().err
    assert behaviors(str(data), "--tagger", "llm") == 2
    assert "judge: no model: --judge-model" in capsys.readouterr().err


def test_a_runs_priming_folder_is_tagged_per_variant_from_the_trees(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["synth", "--out", str(run), "--no-progress", "--num-problems", "12"]) == 0
    assert main(["prime", str(run), "--variant", "only_backtracking"]) == 0
    assert main(["prime", str(run), "--variant", "negative_control"]) == 0
    capsys.readouterr()
    assert behaviors(str(run / "prime")) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("structural tagger")
    written = rows(run / "prime" / "behaviors" / "structural.jsonl")
    assert {r["file"] for r in written} == {"only_backtracking", "negative_control"}
    assert all(r["backtracking"] > 0 for r in written if r["file"] == "only_backtracking")
    assert all(r["backtracking"] == 0 and r["verification"] == 0 for r in written if r["file"] == "negative_control")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--labels", "habits"], "x.jsonl, record 2: --labels habits: expected an object of behaviour"),
        (["--agree-with", "llm"], "judge: no model: --judge-model"),
    ],
)
def test_a_setting_refused_after_tagging_leaves_no_output_folder(tmp_path, capsys, flags, message):
    records = [{"completion": "a", "habits": {"verification": True}}, {"completion": "b"}]
    data = write_jsonl(tmp_path / "x.jsonl", records)
    out = tmp_path / "new" / "out"
    assert behaviors(str(data), "--tagger", "heuristic", "--out", str(out), *flags) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "new").exists()  # refused before the tagger wrote its rows there
