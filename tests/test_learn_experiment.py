"""`metacot bench learn --size smoke` end to end (the plumbing CI checks): every condition trained and evaluated,
results.jsonl and table.md written, a rerun doing nothing again, a resume with other settings refused."""

from __future__ import annotations

from pathlib import Path

import orjson

from metacot.cli import main
from metacot.learn.conditions import CONDITIONS


def jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_smoke_experiment_end_to_end_and_resumed(tmp_path, capsys):
    out = tmp_path / "learn"
    assert main(["bench", "learn", "--size", "smoke", "--out", str(out), "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert f"{len(CONDITIONS)} trained and {len(CONDITIONS)} evaluated now" in first
    rows = jsonl(out / "results.jsonl")
    assert [(r["condition"], r["seed"]) for r in rows] == [(name, 0) for name in CONDITIONS]
    assert all(r["problems"] == 8 and r["training"]["train_problems"] == 24 for r in rows)
    table = (out / "table.md").read_text()
    assert all(f"| {name} |" in table for name in CONDITIONS)
    assert "metacot bench learn --size smoke" in table and "steps taken at random solve" in table
    assert "| pass1 − cot | best_of_n − cot |" in table  # every condition against the baseline, paired by problem
    assert "Equal training tokens: each model fed 2,000 tokens." in table
    heldout = {r["id"] for r in jsonl(out / "problems" / "heldout.jsonl")}
    evaluated = jsonl(out / "runs" / "cot" / "seed-0" / "eval.jsonl")
    assert {r["problem_id"] for r in evaluated} == heldout
    assert sum(r["new_target"] for r in evaluated) == 2
    trained_at = (out / "runs" / "cot" / "seed-0" / "train.json").stat().st_mtime_ns
    curve = jsonl(out / "runs" / "cot" / "seed-0" / "curve.jsonl")  # the smoke size saves one checkpoint
    assert len(curve) == 2 and 0 < curve[0]["tokens"] < curve[1]["tokens"] == rows[0]["training"]["tokens_seen"]
    assert all(len(point["correct"]) == 4 for point in curve)  # eval.curve_problems
    assert curve[1]["correct"] == [r["greedy"]["correct"] for r in evaluated][::2]  # the final model: its evaluation

    assert main(["bench", "learn", "--size", "smoke", "--out", str(out), "--no-progress", "--seeds", "0"]) == 0
    assert "0 trained and 0 evaluated now" in capsys.readouterr().out
    assert (out / "runs" / "cot" / "seed-0" / "train.json").stat().st_mtime_ns == trained_at

    assert main(["bench", "learn", "--size", "smoke", "--out", str(out), "--no-progress", "--noise", "0.3"]) == 2
    assert "differing: noise" in capsys.readouterr().err


def test_equal_problems_feeds_every_condition_each_problem_as_often(tmp_path, capsys):
    out = tmp_path / "problems"
    args = ["bench", "learn", "--size", "smoke", "--conditions", "cot,metacot-mcts", "--epochs", "2"]
    assert main([*args, "--out", str(out), "--no-progress"]) == 0
    rows = {r["condition"]: r["training"] for r in jsonl(out / "results.jsonl")}
    trained_on = {name: len(jsonl(out / "conditions" / f"{name}.jsonl")) for name in rows}
    assert all(rows[name]["records_seen"] == 2 * trained_on[name] for name in rows)
    assert "Equal problems: each model fed 2 passes over its condition's records." in (out / "table.md").read_text()


def test_choosing_settings_on_the_validation_split_never_touches_the_heldout_one(tmp_path, capsys):
    out = tmp_path / "tune"
    args = ["bench", "learn", "--size", "smoke", "--conditions", "cot", "--evaluate-on", "validation"]
    assert main([*args, "--out", str(out), "--no-progress"]) == 0
    assert "validation problems (choosing hyperparameters)" in capsys.readouterr().out
    validation = {r["id"] for r in jsonl(out / "problems" / "validation.jsonl")}
    evaluated = jsonl(out / "runs" / "cot" / "seed-0" / "eval.jsonl")
    assert {r["problem_id"] for r in evaluated} == validation
    assert main(["bench", "learn", "--size", "smoke", "--out", str(out), "--no-progress", "--conditions", "cot"]) == 2
    assert "differing: evaluate_on" in capsys.readouterr().err


def test_models_trained_side_by_side_in_processes_of_their_own(tmp_path, capsys):
    out = tmp_path / "jobs"
    args = ["bench", "learn", "--size", "smoke", "--conditions", "cot,sos", "--jobs", "2", "--threads", "1"]
    assert main([*args, "--out", str(out), "--no-progress"]) == 0
    assert "2 trained and 2 evaluated now" in capsys.readouterr().out
    rows = jsonl(out / "results.jsonl")
    assert [r["condition"] for r in rows] == ["cot", "sos"]
    evaluations = {name: jsonl(out / "runs" / name / "seed-0" / "eval.jsonl") for name in ("cot", "sos")}
    samples = {name: max(len(r["samples"]) for r in rows) for name, rows in evaluations.items()}
    assert samples == {"cot": 2, "sos": 2}  # the smoke size allows 2; the longest condition can use 1 and a spare


def test_a_condition_from_a_file_trains_beside_the_registrys_and_a_pair_is_compared(tmp_path, capsys):
    out = tmp_path / "external"
    args = ["bench", "learn", "--size", "smoke", "--conditions", "cot", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    mine = tmp_path / "mine.jsonl"  # another writing of cot's records: the solution path said twice
    cot = jsonl(out / "conditions" / "cot.jsonl")
    lines = [orjson.dumps({"problem_id": r["problem_id"], "completion": r["completion"] * 2}) for r in cot[1:]]
    mine.write_bytes(b"\n".join(lines) + b"\n")
    more = ["--condition", f"twice={mine}", "--versus", "twice:cot"]
    assert main([*args, *more]) == 0
    assert "1 trained and 1 evaluated now" in capsys.readouterr().out  # cot's model is not trained again
    records = jsonl(out / "conditions" / "twice.jsonl")
    assert [r["problem_id"] for r in records] == [r["problem_id"] for r in cot[1:]]  # the file may leave some out
    assert all(r["prompt"] == c["prompt"] and r["condition"] == "twice" for r, c in zip(records, cot[1:], strict=True))
    table = (out / "table.md").read_text()
    assert "| twice |" in table and "## Differences between conditions" in table and "| twice − cot |" in table

    mine.write_bytes(lines[0] + b"\n")  # a changed file under a name already trained
    assert main([*args, *more]) == 2
    assert "is not the file its models were trained on" in capsys.readouterr().err


def test_a_condition_file_with_a_heldout_problem_or_a_bad_line_is_refused_by_line(tmp_path, capsys):
    out = tmp_path / "refused"
    args = ["bench", "learn", "--size", "smoke", "--conditions", "cot", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    heldout = jsonl(out / "problems" / "heldout.jsonl")[0]["id"]
    train = jsonl(out / "conditions" / "cot.jsonl")[0]["problem_id"]
    leak, bad = tmp_path / "leak.jsonl", tmp_path / "bad.jsonl"
    leak.write_bytes(orjson.dumps({"problem_id": train, "completion": "x"}) + b"\n" + orjson.dumps(
        {"problem_id": heldout, "completion": "x"}) + b"\n")
    bad.write_text('{"problem_id": "' + train + '"}\n')
    assert main([*args, "--condition", f"leak={leak}"]) == 2
    assert f"leak.jsonl:2: '{heldout}' is not a training problem" in capsys.readouterr().err
    assert main([*args, "--condition", f"bad={bad}"]) == 2
    assert "bad.jsonl:1: expected string fields problem_id and completion" in capsys.readouterr().err
    assert main([*args, "--condition", "cot=x.jsonl"]) == 2  # a registry name cannot be shadowed
    assert "not a name for a condition from a file" in capsys.readouterr().err
    assert not (out / "conditions" / "leak.jsonl").exists() and not (out / "runs" / "leak").exists()
