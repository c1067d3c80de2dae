"""A problems file is known by its content: another path to it resumes, an edit is refused naming the problems."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from metacot.cli import main

PROBLEMS = [{"id": f"p{i}", "numbers": [i + 1, 2, 3], "target": 6 + i} for i in range(8)]


def write(path: Path, problems: list[dict]) -> None:
    path.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in problems))


def synth(out: Path, problems: str) -> int:
    return main(["synth", "--out", str(out), "--no-progress", "--problems", problems, "--simulations", "5"])


def test_the_same_file_by_a_relative_then_an_absolute_path_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "problems.jsonl", PROBLEMS)
    assert synth(tmp_path / "run", "problems.jsonl") == 0
    assert synth(tmp_path / "run", str(tmp_path / "problems.jsonl")) == 0
    assert "searched 0 now" in capsys.readouterr().out
    manifest = orjson.loads((tmp_path / "run" / "manifest.json").read_bytes())
    assert manifest["problems_file"] == str(tmp_path / "problems.jsonl")


def test_an_edited_file_under_the_same_path_is_refused_naming_the_problems(tmp_path, capsys):
    path = tmp_path / "problems.jsonl"
    write(path, PROBLEMS)
    assert synth(tmp_path / "run", str(path)) == 0
    edited = [dict(p, target=p["target"] + 1) if p["id"] == "p3" else p for p in PROBLEMS[:-1]]
    write(path, [*edited, {"id": "new", "numbers": [1, 2], "target": 3}])
    capsys.readouterr()
    assert synth(tmp_path / "run", str(path)) == 2
    err = capsys.readouterr().err
    assert "problems.file" in err and f"({path}, now {path}) was edited: changed p3; added new; removed p7" in err


def test_many_changed_problems_are_named_a_few_at_a_time(tmp_path, capsys):
    path = tmp_path / "problems.jsonl"
    write(path, PROBLEMS)
    assert synth(tmp_path / "run", str(path)) == 0
    write(path, [dict(p, target=p["target"] + 1) for p in PROBLEMS])
    capsys.readouterr()
    assert synth(tmp_path / "run", os.path.relpath(path)) == 2
    assert "changed p0, p1, p2, p3, p4 and 3 more" in capsys.readouterr().err


@pytest.mark.parametrize("moved", [False, True])
def test_a_copy_of_the_file_elsewhere_resumes_too(tmp_path, capsys, moved):
    write(tmp_path / "a.jsonl", PROBLEMS)
    write(tmp_path / "b.jsonl", PROBLEMS)
    assert synth(tmp_path / "run", str(tmp_path / "a.jsonl")) == 0
    assert synth(tmp_path / "run", str(tmp_path / ("b.jsonl" if moved else "a.jsonl"))) == 0
