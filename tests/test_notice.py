"""problems.countdown.notice = "when-found": wrong results taken at face value, found later by a verification."""

from __future__ import annotations

import orjson
import pytest

from metacot.cli import main
from metacot.linearize.audit import audit_record
from metacot.outputs.labels import label_records
from metacot.outputs.records import read_records
from metacot.outputs.rundir import RunDir
from metacot.problems import CountdownDomain, CountdownProblem
from metacot.tree import SearchTree

WHEN_FOUND = CountdownDomain("when-found")
PROBLEM = CountdownProblem("p", (12, 5, 30, 2), 49)


def test_a_wrong_result_is_taken_at_face_value_and_kept():
    outcome = WHEN_FOUND.apply_step(PROBLEM, (12, 5, 30, 2), "12 + 5 = 18")
    assert (outcome.state, outcome.terminal, outcome.error) == ((30, 2, 18), False, None)
    assert outcome.slip == "12 + 5 is 17, not 18"
    immediate = CountdownDomain().apply_step(PROBLEM, (12, 5, 30, 2), "12 + 5 = 18")
    assert immediate.error == "12 + 5 is 17, not 18" and immediate.slip is None


def test_ill_formed_steps_stay_dead_and_a_slip_never_makes_a_solution():
    assert WHEN_FOUND.apply_step(PROBLEM, (12, 5, 30, 2), "7 + 5 = 12").error == "7 is not available in [12, 5, 30, 2]"
    last = WHEN_FOUND.apply_step(CountdownProblem("q", (30, 2), 33), (30, 2), "30 + 2 = 33")
    assert last.terminal and last.correct is False and last.slip == "30 + 2 is 32, not 33"


def test_first_mistake_recomputes_the_whole_path():
    steps = ["30 - 2 = 28", "12 + 5 = 18", "28 + 18 = 46", "46 + 3 = 49"]
    assert WHEN_FOUND.first_mistake(PROBLEM, steps) == (1, "12 + 5 is 17, not 18")
    assert WHEN_FOUND.first_mistake(PROBLEM, ["12 + 5 = 17"]) is None


def test_an_unknown_notice_names_the_setting():
    with pytest.raises(ValueError, match="problems.countdown.notice"):
        CountdownDomain("later")


def test_old_trees_load_and_default_trees_have_no_slip_field():
    tree = SearchTree.with_root("p", {"id": "p", "numbers": [1, 2], "target": 3}, (1, 2))
    tree.add_child(tree.root, "1 + 2 = 4", state=(4,), slip="1 + 2 is 3, not 4")
    data = orjson.loads(orjson.dumps(tree.to_dict()))
    assert "slip" not in data["nodes"][0] and data["nodes"][1]["slip"] == "1 + 2 is 3, not 4"
    assert SearchTree.from_dict(data).nodes[1].slip == "1 + 2 is 3, not 4"
    del data["nodes"][1]["slip"]
    assert SearchTree.from_dict(data).nodes[1].slip is None


def synth(tmp_path_factory, *flags: str) -> RunDir:
    out = tmp_path_factory.mktemp("notice") / "run"
    flags = ("--no-progress", "--num-problems", "40", "--set", "problems.countdown.notice=when-found", *flags)
    assert main(["synth", "--out", str(out), *flags]) == 0
    return RunDir(out)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """MCTS: it verifies the children it creates, so a mistake is mostly found below a node it expanded."""
    return synth(tmp_path_factory)


@pytest.fixture(scope="module")
def dfs_run(tmp_path_factory):
    """DFS: it visits every finished path, so the check is the verdict of a terminal step."""
    return synth(tmp_path_factory, "--search", "dfs")


def records(run: RunDir, fmt: str) -> list[dict]:
    return [record for _, record in read_records(run.traces_dir / f"{fmt}.jsonl")]


def test_the_run_keeps_its_rule(run):
    assert run.read_manifest()["config"]["problems"]["countdown"]["notice"] == "when-found"
    assert run.domain().notice == "when-found"


def test_no_correct_node_holds_a_slip_on_its_path(run):
    trees = list(run.iter_trees())
    assert any(n.slip for tree in trees for n in tree.nodes)
    caught = [n for t in trees for n in t.nodes if n.terminal and n.error is None and t.first_slip(n.id) is not None]
    assert caught and not any(n.correct for n in caught)
    assert any(n.state == [t.problem["target"]] for t in trees for n in caught)  # claimed the target: still wrong


def test_no_transposition_joins_numbers_reached_through_a_slip(run):
    """A state reached through a wrong result is not the position it claims: the search never merges it either way
    (a correct path merged into it would lose the solutions below it)."""
    trees = list(run.iter_trees())
    merged = [(t, n) for t in trees for n in t.nodes if n.transposes is not None]
    assert merged and any(t.first_slip(n.id) is not None for t in trees for n in t.nodes)
    assert not any(t.first_slip(n.id) is not None or t.first_slip(n.transposes) is not None for t, n in merged)


def test_a_wrong_step_is_followed_by_steps_then_by_the_check_that_catches_it(run):
    trees = {tree.problem_id: tree for tree in run.iter_trees()}
    later = 0
    for record in records(run, "metacot"):
        tree = trees[record["problem_id"]]
        lines = record["completion"].split("\n")
        for node in (n for n in tree.nodes if n.slip):
            # the same step text can be taken from other states: the line of this node states its numbers
            written = [
                i for i, line in enumerate(lines) if line == f"{node.step}. {WHEN_FOUND.step_note(None, node.state)}"
            ]
            caught = [i for i, line in enumerate(lines) if f": {node.slip}." in line]
            if written and caught and caught[0] > written[0] + 1:
                assert any(". Now I have " in line for line in lines[written[0] + 1 : caught[0]])
                later += 1
    assert later > 0


def test_the_runs_audit_clean(run, dfs_run, capsys):
    for directory in (run, dfs_run):
        assert main(["audit", str(directory.path), "--no-reader"]) == 0
        printed = capsys.readouterr().out
        assert "mistake " in printed and "0 records" not in printed


def first_caught(run: RunDir, fmt: str, needle: str) -> tuple[dict, SearchTree]:
    trees = {tree.problem_id: tree for tree in run.iter_trees()}
    record = next(r for r in records(run, fmt) if needle in r["completion"])
    tree = trees[record["problem_id"]]
    assert audit_record(record, tree, WHEN_FOUND).failures == []
    return record, tree


CHECKS = [
    ("run", "metacot", "Checking the steps of"),
    ("run", "tokens", "<verify> Checking the steps of"),
    ("dfs_run", "metacot", "Checking the steps: "),
    ("dfs_run", "tokens", "<verify> Checking the steps: "),
]


@pytest.mark.parametrize("which, fmt, needle", CHECKS)
def test_a_check_naming_another_step_fails_the_audit(request, which, fmt, needle):
    record, tree = first_caught(request.getfixturevalue(which), fmt, needle)
    line = next(s for s in record["completion"].split("\n") if needle in s)
    why = line.split(": ", 1)[1].split(".")[0]  # "39 * 45 is 1755, not 1753"
    corrupted = {**record, "completion": record["completion"].replace(why, why.replace(" is ", " is 1", 1), 1)}
    failures = audit_record(corrupted, tree, WHEN_FOUND).failures
    assert failures and any(why in f.message for f in failures)


def test_a_slip_path_presented_as_solved_fails_the_audit(dfs_run):
    record, tree = first_caught(dfs_run, "metacot", "Checking the steps: ")
    line = next(s for s in record["completion"].split("\n") if "Checking the steps: " in s)
    step = line.split(". Checking the steps: ")[0]
    node = next(n for n in tree.nodes if n.step == step)
    solved = f"{step}. {WHEN_FOUND.verdict(WHEN_FOUND.problem_from_dict(tree.problem), node.state, True)}"
    corrupted = {**record, "completion": record["completion"].replace(line, solved, 1)}
    assert audit_record(corrupted, tree, WHEN_FOUND).failures


def test_the_immediate_rule_audits_face_value_steps_as_wrong(run):
    record, tree = first_caught(run, "metacot", "Checking the steps of")
    failures = audit_record(record, tree, CountdownDomain()).failures
    assert failures and "Wait, that's wrong: " in failures[0].message


def test_prm_labels_mark_a_slip_and_what_follows_it_wrong(run):
    for tree in run.iter_trees():
        for label in label_records(tree, WHEN_FOUND):
            steps = label["completions"]
            mistake = WHEN_FOUND.first_mistake(WHEN_FOUND.problem_from_dict(tree.problem), steps)
            if mistake is not None:
                assert not any(label["labels"][mistake[0] :])
