"""A trace format added as docs/extending.md says (its module, its registry entry) is written, listed and audited."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from metacot.cli import main
from metacot.linearize import resolve_formats
from metacot.linearize.auditor import Auditor
from metacot.linearize.formats import FORMATS, TraceFormat
from metacot.linearize.render import Context
from metacot.linearize.walk import Move
from metacot.problems import CountdownDomain


# --- what metacot/linearize/formats/steps.py would hold ---
def render_steps(ctx: Context, moves: list[Move]) -> list[str]:
    return [ctx.node(move.node).step.strip() for move in moves]


def audit_steps(auditor: Auditor, lines: list[str], answer: str) -> None:
    for line in lines:
        child = auditor.step_to([auditor.current], line, line, exact=True)
        if child is None:
            return
        auditor.arrive(child, line)


STEPS = TraceFormat(help="the solution's steps alone", render=render_steps, parse=audit_steps, path_only=True)


def synth(tmp_path):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--no-progress", "--num-problems", "8", "--formats", "steps"]) == 0
    return out


def test_a_registered_format_is_written_listed_and_audited(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(FORMATS, "steps", STEPS)  # its registry entry (metacot/linearize/formats/__init__.py)
    out = synth(tmp_path)
    records = [orjson.loads(line) for line in (out / "traces" / "steps.jsonl").read_bytes().splitlines()]
    assert records and all(r["format"] == "steps" and r["correct"] and r["num_backtracks"] == 0 for r in records)
    steps = records[0]["completion"].split("<think>\n")[1].split("\n</think>")[0].split("\n")
    assert all(" = " in step and not step.endswith(".") for step in steps)  # bare steps: no sentences

    with pytest.raises(SystemExit):
        main(["show", "--help"])
    assert "{metacot,paper,tokens,cot,sos,steps}" in capsys.readouterr().out
    assert main(["show", str(out), "--problem", records[0]["problem_id"], "--format", "steps"]) == 0
    assert "\n".join(steps) in capsys.readouterr().out

    assert main(["audit", str(out), "--format", "steps"]) == 0
    printed = capsys.readouterr().out
    assert f"steps: {len(records)} records, " in printed and "answers only" not in printed
    claims = int(printed.split(" claims checked")[0].rsplit(", ", 1)[1])
    assert claims > len(records)  # each step is a claim, beside the answer

    wrong = steps[-1].rsplit(" = ", 1)[0] + " = 1000"
    broken = {**records[0], "completion": records[0]["completion"].replace(steps[-1], wrong)}
    (out / "traces" / "steps.jsonl").write_bytes(orjson.dumps(broken) + b"\n")
    assert main(["audit", str(out), "--format", "steps"]) == 1
    assert "wrong step" in capsys.readouterr().out


def test_a_format_without_a_parser_has_its_answers_audited_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(FORMATS, "steps", dataclasses.replace(STEPS, parse=None))
    out = synth(tmp_path)
    capsys.readouterr()
    assert main(["audit", str(out), "--format", "steps"]) == 0
    assert "answers only: the steps format has no audit parser for its lines" in capsys.readouterr().out


def test_a_format_some_domains_cannot_write_says_what_it_needs(monkeypatch):
    boards = dataclasses.replace(STEPS, serves=lambda domain: False, needs="needs a board")
    monkeypatch.setitem(FORMATS, "steps", boards)
    with pytest.raises(ValueError, match=r"'steps' needs a board; the countdown domain writes metacot, paper"):
        resolve_formats(["steps"], CountdownDomain())
