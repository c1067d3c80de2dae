"""metacot traces read as a reader does: a conclusion about a state comes after the steps tried from it, every
backtrack gives a grounded reason, and no comparison contradicts its printed values; the audit flags each."""

from __future__ import annotations

import re

import orjson
import pytest

from metacot.cli import main
from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.audit import audit_record
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
