"""metacot traces read as a reader does: a conclusion about a state comes after the steps tried from it, every
backtrack gives a grounded reason, and no comparison contradicts its printed values; the audit flags each."""

from __future__ import annotations

import re

import orjson
import pytest

from metacot.cli import main
from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.audit import audit_record
from metacot.linearize.reader import read_record
from metacot.linearize.reasons import EXHAUSTED_WORDS, GO_BACK_WORDS, REASONLESS_WORDS, TIE_WORDS
from metacot.problems import CountdownDomain
from metacot.tree import SearchTree

DOMAIN = CountdownDomain()
CONFIG = LinearizeConfig(include_unsolved=True)
NOISY = ("--noise-std", "0.3", "--flip-prob", "0.2", "--mistake-rate", "0.3")
STATE = r"\[[\d, ]*\]"
NOW = re.compile(rf"Now I have (?P<state>{STATE})\.")
TRIED = re.compile(rf"From (?P<state>{STATE}): ")
GO_BACK = re.compile("|".join(re.escape(w).replace(re.escape("{state}"), f"(?P<s{i}>{STATE})") for i, w in
                              enumerate(GO_BACK_WORDS)))
EXHAUSTED = re.compile("|".join(re.escape(w).replace(re.escape("{state}"), f"(?P<e{i}>{STATE})").replace(
    re.escape("{goal}"), r"reach \d+") for i, w in enumerate(EXHAUSTED_WORDS)))


def messages(record: dict, tree: SearchTree) -> list[str]:
    return [f.message for f in audit_record(record, tree, DOMAIN).failures]


def first_record(trees: list[SearchTree], needle: str) -> tuple[dict, SearchTree]:
    for tree in trees:
        record = linearize(tree, DOMAIN, "metacot", CONFIG)
        if record is not None and needle in record["completion"]:
            assert messages(record, tree) == []
            return record, tree
    raise AssertionError(f"no metacot record with {needle!r}")


def without_line(record: dict, start: str) -> dict:
    lines = record["completion"].split("\n")
    line = next(line for line in lines if line.startswith(start))
    return {**record, "completion": "\n".join(x for x in lines if x != line)}


def test_a_conclusion_without_the_steps_it_rests_on_fails(noisy):
    """Drop the attempts line before an exhausted claim: the claim is unsupported."""
    record, tree = first_record(noisy.trees, "\nFrom [")
    got = messages(without_line(record, "From ["), tree)
    assert got and all(m.startswith("concludes about [") for m in got)


def test_a_reasonless_backtrack_fails(noisy):
    go_back = GO_BACK_WORDS[0].split("{")[0]
    record, tree = first_record(noisy.trees, f". {go_back}")
    line = next(x for x in record["completion"].split("\n") if go_back in x and not x.startswith(go_back))
    reason = line[: line.index(go_back)]
    corrupted = {**record, "completion": record["completion"].replace(reason, REASONLESS_WORDS[0] + " ", 1)}
    assert "a backtrack with no reason" in messages(corrupted, tree)


def tied_tree(left: float, right: float) -> SearchTree:
    """Two first steps whose PRM scores differ below the printed precision; the trace takes the first, then the
    second."""
    tree = SearchTree.with_root("p", {"id": "p", "numbers": [3, 5, 7], "target": 24}, (3, 5, 7))
    a = tree.add_child(tree.root, "3 + 5 = 8", state=(7, 8), score=left)
    b = tree.add_child(tree.root, "7 - 5 = 2", state=(3, 2), score=right)
    tree.root.expanded, tree.root.expanded_at = True, 1
    tree.trace = [0, a.id, b.id]
    return tree


@pytest.mark.parametrize(("left", "right"), [(0.99923, 0.99948), (0.2996, 0.2997)])
def test_comparisons_never_contradict_the_printed_values(left, right):
    """0.99923 vs 0.99948 prints as 1.00 vs 1.00: not 'only 1.00, while another has 1.00'; 0.2996 is not 'low
    (0.30)' under a < 0.3 rule."""
    tree = tied_tree(left, right)
    record = linearize(tree, DOMAIN, "metacot", CONFIG)
    assert record is not None and record["num_backtracks"] == 1
    assert messages(record, tree) == []
    v = f"{left:.2f}"
    assert any(w.format(v=v, w=v) in record["completion"] for w in TIE_WORDS)


def test_a_rounding_contradiction_fails():
    tree = tied_tree(0.99923, 0.99948)
    record = linearize(tree, DOMAIN, "metacot", CONFIG)
    assert record is not None
    said = next(w.format(v="1.00", w="1.00") for w in TIE_WORDS if w.format(v="1.00", w="1.00") in record["completion"])
    wrong = said.replace("1.00", "0.50", 1)  # the first value field, whichever it is
    corrupted = {**record, "completion": record["completion"].replace(said, wrong)}
    assert any(m.startswith("rounding: ") for m in messages(corrupted, tree))


def numbers(state: str) -> tuple[str, ...]:
    return tuple(sorted(state.strip("[]").split(", ")))


def reader_violations(completion: str) -> tuple[int, int, int, int]:
    """(exhausted claims about a state no step from which the text has shown, reasonless backtracks, steps to numbers
    the text reached before, steps from numbers it called exhausted), read from the text alone: a step is shown from
    the state the text stands on, and an attempts line shows steps from its state."""
    here, shown, unsupported = None, set(), 0
    reached, closed, repeated, reopened = set(), set(), 0, 0
    for line in completion.split("\n"):
        m = EXHAUSTED.match(line)
        if m is not None:
            said = next(v for v in m.groupdict().values() if v)
            unsupported += said not in shown
            closed.add(numbers(said))
        back = GO_BACK.search(line)
        if back is not None:
            here = next(v for v in back.groupdict().values() if v)
        elif (tried := TRIED.match(line)) is not None:
            shown.add(tried["state"])
            reopened += numbers(tried["state"]) in closed
        elif " = " in line:
            shown.add(here)
            reopened += here is not None and numbers(here) in closed
            now = NOW.search(line)
            here = now["state"] if now else None
            repeated += here is not None and numbers(here) in reached
            reached.add(here and numbers(here))
    reasonless = sum(completion.count(w) for w in REASONLESS_WORDS)
    return unsupported, reasonless, repeated, reopened


@pytest.mark.parametrize("search", ["mcts", "astar", "beam", "bfs", "dfs"])
@pytest.mark.parametrize("noisy_flags", [False, True])
def test_generated_traces_show_their_work_and_give_reasons(tmp_path, capsys, search, noisy_flags):
    out = tmp_path / "run"
    flags = ["--search", search, "--num-problems", "12", "--seed", "7", *(NOISY if noisy_flags else ())]
    assert main(["synth", "--out", str(out), "--no-progress", "--formats", "metacot", *flags]) == 0
    assert main(["audit", str(out), "--no-progress", "--no-reader"]) == 0, capsys.readouterr().out
    records = [orjson.loads(line) for line in (out / "traces" / "metacot.jsonl").read_bytes().splitlines()]
    assert records and sum(r["num_backtracks"] for r in records) > 0
    assert [reader_violations(r["completion"]) for r in records] == [(0, 0, 0, 0)] * len(records)


def transposed_tree(exhausted_first: bool) -> SearchTree:
    """[5, 5, 7] reached by "2 + 3 = 5" and again by "3 + 2 = 5", in a tree whose search says it merged
    transpositions; the first expanded into a wrong step only when `exhausted_first`; the trace then steps from the
    second."""
    problem = {"id": "p", "numbers": [2, 3, 5, 7], "target": 61}
    tree = SearchTree.with_root("p", problem, (2, 3, 5, 7))
    tree.transpositions_merged = True
    a = tree.add_child(tree.root, "2 + 3 = 5", state=(5, 7, 5))
    b = tree.add_child(tree.root, "3 + 2 = 5", state=(5, 7, 5))
    tree.root.expanded, tree.root.expanded_at = True, 1
    if exhausted_first:
        tree.add_child(a, "5 * 7 = 36", terminal=True, correct=False, error="5 * 7 is 35, not 36")
        a.expanded, a.expanded_at = True, 2
    c = tree.add_child(b, "5 + 7 = 12", state=(5, 12))
    b.expanded, b.expanded_at = True, 3
    tree.trace = [0, a.id, b.id, c.id]
    return tree


@pytest.mark.parametrize("exhausted_first", [False, True])
def test_the_same_numbers_twice_and_a_step_from_a_state_called_exhausted_fail(exhausted_first):
    tree = transposed_tree(exhausted_first)
    record = linearize(tree, DOMAIN, "metacot", CONFIG)
    assert record is not None and "Now I have [5, 7, 5]." in record["completion"]
    got = messages(record, tree)
    assert "reaches [5, 7, 5] again: explored above by other steps" in got
    exhausted = "goes on from [5, 7, 5], which the trace said was exhausted"
    assert (exhausted in got) == exhausted_first
    assert reader_violations(record["completion"])[2:] == (1, int(exhausted_first))
    tree.transpositions_merged = False  # best-of-N's chains: independent samples may meet
    assert messages(record, tree) == []


WHEN_FOUND = CountdownDomain(notice="when-found")


def when_found_tree(numbers: list[int], target: int) -> SearchTree:
    return SearchTree.with_root("p", {"id": "p", "numbers": numbers, "target": target}, tuple(numbers))


def expand(tree: SearchTree, node, at: int, *children: tuple) -> list:
    """Children (step, state, slip, terminal) made by an expansion before trace visit `at` (a finished path is
    correct when it reaches the target: none here passes a slip)."""
    target = tree.problem["target"]
    made = [
        tree.add_child(node, step, state=state, slip=slip, terminal=terminal, correct=terminal and state == (target,))
        for step, state, slip, terminal in children
    ]
    node.expanded, node.expanded_at = True, at
    return made


def unfound_slip() -> tuple[SearchTree, str]:
    """A slip taken at face value, visited and left for a sibling with its right result: never verified."""
    tree = when_found_tree([2, 3, 5], 30)
    slip, right = expand(tree, tree.root, 1, ("2 * 3 = 7", (5, 7), "2 * 3 is 6, not 7", False),
                         ("2 * 3 = 6", (5, 6), None, False))  # fmt: skip
    (win,) = expand(tree, right, 4, ("5 * 6 = 30", (30,), None, True))
    tree.trace = [0, slip.id, 0, right.id, win.id]
    return tree, "2 * 3 = 7"


def second_slip() -> tuple[SearchTree, str]:
    """A slip below a slip: the check of the path below them finds the first alone."""
    tree = when_found_tree([2, 3, 5, 7], 37)
    (first,) = expand(tree, tree.root, 1, ("2 * 3 = 7", (5, 7, 7), "2 * 3 is 6, not 7", False))
    (second,) = expand(tree, first, 2, ("5 + 7 = 13", (7, 13), "5 + 7 is 12, not 13", False))
    expand(tree, second, 3, ("7 + 13 = 20", (20,), None, True))
    (right,) = expand(tree, tree.root, 3, ("2 * 3 = 6", (5, 7, 6), None, False))
    first.repair, first.noticed_at = right.id, 3
    (thirty,) = expand(tree, right, 4, ("5 * 6 = 30", (7, 30), None, False))
    (win,) = expand(tree, thirty, 5, ("7 + 30 = 37", (37,), None, True))
    tree.trace = [0, first.id, second.id, right.id, thirty.id, win.id]
    return tree, "5 + 7 = 13"


def repaired_first() -> tuple[SearchTree, str]:
    """A slip the search takes up after its right version (the policy proposed both), then finds."""
    tree = when_found_tree([2, 3, 5], 30)
    right, slip = expand(tree, tree.root, 1, ("2 * 3 = 6", (5, 6), None, False),
                         ("2 * 3 = 7", (5, 7), "2 * 3 is 6, not 7", False))  # fmt: skip
    expand(tree, slip, 4, ("5 + 7 = 12", (12,), None, True))
    slip.repair, slip.noticed_at = right.id, 4
    (win,) = expand(tree, right, 4, ("5 * 6 = 30", (30,), None, True))
    tree.trace = [0, right.id, 0, slip.id, win.id]
    return tree, "2 * 3 = 7"


@pytest.mark.parametrize("make", [unfound_slip, second_slip, repaired_first])
@pytest.mark.parametrize("fmt", ["metacot", "tokens"])
def test_a_slip_the_text_could_not_call_wrong_is_never_written(make, fmt):
    """Written, each would be arithmetic the text never calls wrong, or a slip after its right version; left out
    (with what is below it), the record audits clean against its tree and reads clean."""
    tree, slip = make()
    record = linearize(tree, WHEN_FOUND, fmt, CONFIG)
    assert record is not None and record["correct"]
    assert slip not in record["completion"]
    assert [f.message for f in audit_record(record, tree, WHEN_FOUND).failures] == []
    assert read_record(record, WHEN_FOUND, WHEN_FOUND.problem_from_dict(tree.problem)) == []


def test_a_low_value_is_the_one_held_when_the_tokens_trace_leaves():
    """The search came back to a node and lowered its value, a visit the text does not write: the tokens trace prints
    the value it leaves for again, so that 'low_value' is true of the values it printed."""
    tree = SearchTree.with_root("p", {"id": "p", "numbers": [2, 3, 5], "target": 25}, (2, 3, 5))
    a, b = expand(tree, tree.root, 1, ("2 * 3 = 6", (5, 6), None, False), ("2 + 3 = 5", (5, 5), None, False))
    (win,) = expand(tree, b, 5, ("5 * 5 = 25", (25,), None, True))
    tree.trace, tree.trace_values = [0, a.id, 0, a.id, b.id, win.id], [0.5, 1.0, 0.5, 0.1, 1.0, 1.0]
    record = linearize(tree, DOMAIN, "tokens", CONFIG)
    assert record is not None and "<value> 1.00\n<value> 0.10\n<backtrack to=0 reason=low_value>" in record[
        "completion"]  # fmt: skip
    assert messages(record, tree) == []
    assert read_record(record, DOMAIN, DOMAIN.problem_from_dict(tree.problem)) == []
