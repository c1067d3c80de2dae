"""metacot audit: real runs audit clean; hand-corrupted records fail with the right message; reasons are grounded."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from metacot.cli import main
from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.audit import audit_record, audit_records
from metacot.linearize.reasons import AHEAD_WORDS, GO_BACK_WORDS, TIE_WORDS
from metacot.problems import CountdownDomain

DOMAIN = CountdownDomain()
VALUES = LinearizeConfig(include_unsolved=True, value_lines=True)


def synth(tmp_path, *flags: str):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--no-progress", "--num-problems", "30", *flags]) == 0
    return out


@pytest.mark.parametrize("search", ["mcts", "astar", "beam"])
def test_runs_audit_clean(tmp_path, capsys, search):
    out = synth(tmp_path, "--search", search)
    assert main(["audit", str(out), "--no-reader"]) == 0
    assert main(["linearize", str(out), "--value-lines", "--include-unsolved"]) == 0
    assert main(["audit", str(out), "--format", "metacot", "--format", "tokens", "--no-reader"]) == 0
    printed = capsys.readouterr().out
    assert "metacot: 30 records" in printed and "tokens: 30 records" in printed


def first_record(noisy, fmt: str, needle: str) -> tuple[dict, object]:
    for tree in noisy.trees:
        record = linearize(tree, DOMAIN, fmt, VALUES)
        if record is not None and needle in record["completion"]:
            assert audit_record(record, tree, DOMAIN).failures == []
            return record, tree
    raise AssertionError(f"no {fmt} record with {needle!r}")


def corrupt(record: dict, old: str, new: str) -> dict:
    assert old in record["completion"]
    return {**record, "completion": record["completion"].replace(old, new, 1)}


def messages(record: dict, tree) -> list[str]:
    return [f.message for f in audit_record(record, tree, DOMAIN).failures]


def test_wrong_step_result_fails(noisy):
    record, tree = first_record(noisy, "metacot", "Now I have")
    line = next(s for s in record["completion"].split("\n") if "Now I have" in s)
    step = line.split(". ")[0]
    a, result = step.rsplit(" = ", 1)
    wrong = f"{a} = {int(result) + 1}"
    got = messages(corrupt(record, step, wrong), tree)
    assert got and got[0].startswith("wrong step: ")


def test_wrong_state_after_a_step_fails(noisy):
    record, tree = first_record(noisy, "metacot", "Now I have [")
    got = messages(corrupt(record, "Now I have [", "Now I have [7, "), tree)
    assert any(m.startswith("the step gives: ") for m in got)


def test_backtrack_to_an_unvisited_state_fails(noisy):
    record, tree = first_record(noisy, "metacot", "Let me go back to [")
    got = messages(corrupt(record, "Let me go back to [", "Let me go back to [999, "), tree)
    assert any("a state not visited earlier" in m for m in got)


def test_tokens_backtrack_to_an_unvisited_node_fails(noisy):
    record, tree = first_record(noisy, "tokens", "<backtrack to=0 ")
    got = messages(corrupt(record, "<backtrack to=0 ", "<backtrack to=0.99.9 "), tree)
    assert any("a node not visited earlier" in m for m in got)


def exploration_line(record: dict) -> str | None:
    """A backtrack line of the record whose reason is a value comparison that claims no dead end (its reason part,
    up to the go-back sentence)."""
    for line in record["completion"].split("\n"):
        if any(line.startswith(w.split("{")[0]) for w in (*TIE_WORDS, *AHEAD_WORDS)):
            return next(line[: line.index(g.split("{")[0])] for g in GO_BACK_WORDS if g.split("{")[0] in line)
    return None


def test_false_dead_end_claim_fails(noisy):
    """An exploration move rewritten as 'none of the steps reach the target' is caught."""
    record, tree = next(
        (r, t) for t in noisy.trees if (r := linearize(t, DOMAIN, "metacot", VALUES)) and exploration_line(r)
    )
    reason = exploration_line(record)
    assert reason is not None
    before = record["completion"].split(reason)[0].rstrip("\n").split("\n")
    state = next(s for s in reversed(before) if "Now I have" in s).split("Now I have ")[1].rstrip(".")
    target = tree.problem["target"]
    claim = f"None of the steps I tried from {state} reach {target}. "
    got = messages(corrupt(record, reason, claim), tree)
    # it has live steps, the trace goes on from it, or the steps tried from it were not shown first
    assert got and all("exhausted" in m or m.startswith("concludes about") for m in got)


def test_wrong_value_line_fails(noisy):
    record, tree = first_record(noisy, "metacot", "Value: 1.00")
    got = messages(corrupt(record, "Value: 1.00", "Value: 0.50"), tree)
    assert got == ["the value is 1.00"]


def test_wrong_answer_fails(noisy):
    record, tree = first_record(noisy, "metacot", ", the target.")
    answer = record["completion"].rsplit("<answer> ", 1)[1].removesuffix(" </answer>")
    got = messages(corrupt(record, f"<answer> {answer}", f"<answer> {answer} + 1"), tree)
    assert got == ["the answer does not check out (domain.check_answer)"]


def test_cli_exits_1_on_a_false_claim(tmp_path, capsys):
    out = synth(tmp_path)
    path = out / "traces" / "metacot.jsonl"
    lines = path.read_bytes().splitlines()
    record = orjson.loads(lines[0])
    record["completion"] = record["completion"].replace("Now I have [", "Now I have [7, ", 1)
    path.write_bytes(b"\n".join([orjson.dumps(record), *lines[1:]]) + b"\n")
    assert main(["audit", str(out), "--format", "metacot"]) == 1
    assert record["problem_id"] in capsys.readouterr().out


def test_no_dead_end_claim_about_a_state_the_trace_resumes(noisy):
    """Every exhausted claim names a state the trace never goes on from; none is on the solution path."""
    for tree in noisy.trees:
        record = linearize(tree, DOMAIN, "tokens", dataclasses.replace(VALUES, value_lines=False))
        assert record is not None
        assert audit_record(record, tree, DOMAIN).failures == []


@pytest.mark.parametrize("fmt", ["metacot", "tokens"])
def test_every_backtrack_is_counted_by_its_reason(noisy, fmt):
    domain = CountdownDomain()
    records = [linearize(tree, domain, fmt, LinearizeConfig()) for tree in noisy.trees]
    pairs = [(record, tree) for record, tree in zip(records, noisy.trees, strict=True) if record is not None]
    result = audit_records(iter(pairs), domain)
    assert not result.failures
    assert sum(result.reasons.values()) == sum(record["num_backtracks"] for record, _ in pairs) > 0
    assert set(result.reasons) <= {"exhausted", "low_value", "exploration"}
