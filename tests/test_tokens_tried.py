"""The tokens format shows the work its conclusions rest on: a <tried> line lists the failed steps tried from a state
before a backtrack that concludes about it, the same steps the metacot format lists; the tree audit checks each
listed step, and the reader counts the conclusion as supported only with the line."""

from __future__ import annotations

import re

from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.audit import audit_record
from metacot.linearize.reader import read_record
from metacot.linearize.reader.checks import EXHAUSTED_STEPPED, UNSUPPORTED
from metacot.problems import CountdownDomain
from metacot.tree import SearchTree

DOMAIN = CountdownDomain()
CONFIG = LinearizeConfig(include_unsolved=True)
TRIED = "<tried> [5, 6]: 5 + 6 = 11 (11 is not 25); 5 * 6 = 30 (30 is not 25)"
METACOT_ATTEMPTS = re.compile(r"From (?P<state>\[[^]]*\]): (?P<attempts>.+)\.")


def dead_end_tree() -> SearchTree:
    """[2, 3, 5] -> 25: 2 * 3 = 6 leads to [5, 6], whose two steps fail; then 2 + 3 = 5 and 5 * 5 = 25."""
    tree = SearchTree.with_root("p", {"id": "p", "numbers": [2, 3, 5], "target": 25}, (2, 3, 5))
    left = tree.add_child(tree.root, "2 * 3 = 6", state=(5, 6))
    right = tree.add_child(tree.root, "2 + 3 = 5", state=(5, 5))
    tree.root.expanded, tree.root.expanded_at = True, 1
    tree.add_child(left, "5 + 6 = 11", state=(11,), terminal=True, correct=False)
    tree.add_child(left, "5 * 6 = 30", state=(30,), terminal=True, correct=False)
    left.expanded, left.expanded_at = True, 2
    win = tree.add_child(right, "5 * 5 = 25", state=(25,), terminal=True, correct=True)
    right.expanded, right.expanded_at = True, 3
    tree.trace = [0, left.id, right.id, win.id]
    return tree


def reader_kinds(record: dict, tree: SearchTree) -> set[str]:
    return {v.kind for v in read_record(record, DOMAIN, DOMAIN.problem_from_dict(tree.problem))}


def test_the_tried_line_comes_before_the_exhausted_backtrack_and_both_audits_pass_it():
    tree = dead_end_tree()
    record = linearize(tree, DOMAIN, "tokens", CONFIG)
    assert record is not None
    lines = record["completion"].split("\n")
    assert lines[2:4] == [TRIED, "<backtrack to=0 reason=exhausted> [2, 3, 5]"]
    assert audit_record(record, tree, DOMAIN).failures == []
    assert reader_kinds(record, tree) == set()


def test_a_tokens_trace_without_its_tried_line_fails_both_audits():
    tree = dead_end_tree()
    record = linearize(tree, DOMAIN, "tokens", CONFIG)
    assert record is not None
    dropped = {**record, "completion": record["completion"].replace(TRIED + "\n", "")}
    assert reader_kinds(dropped, tree) == {UNSUPPORTED}
    messages = [f.message for f in audit_record(dropped, tree, DOMAIN).failures]
    assert messages and all(m.startswith("concludes about [5, 6] without showing") for m in messages)


def test_a_tried_line_with_a_step_not_tried_fails_the_tree_audit():
    tree = dead_end_tree()
    record = linearize(tree, DOMAIN, "tokens", CONFIG)
    assert record is not None
    wrong = {**record, "completion": record["completion"].replace("5 * 6 = 30 (30", "6 - 5 = 1 (1")}
    messages = [f.message for f in audit_record(wrong, tree, DOMAIN).failures]
    assert "lists steps that were not tried from [5, 6]" in messages


def test_an_exhausted_backtrack_concludes_about_the_states_its_tried_lines_list():
    """Right after a failed step, the <tried> line's state is what reason=exhausted concludes about: a step from the
    same numbers later (3 * 2 = 6 reaches [5, 6] again) is a step from a state called exhausted."""
    problem = DOMAIN.problem_from_dict(dead_end_tree().problem)
    lines = [
        "<step> 2 * 3 = 6",
        "<step> 5 + 6 = 11",
        "<verify> 11 is not 25.",
        "<tried> [5, 6]: 5 * 6 = 30 (30 is not 25)",
        "<backtrack to=0 reason=exhausted> [2, 3, 5]",
        "<step> 3 * 2 = 6",
        "<step> 5 - 6 = -1",
        "<verify> -1 is not 25.",
    ]
    record = {"problem_id": "p", "format": "tokens", "prompt": "", "completion": "<think>\n" + "\n".join(lines)}
    record["completion"] += "\n</think>\n<answer> I could not find a way to reach 25. </answer>"
    found = read_record(record, DOMAIN, problem)
    assert [(v.kind, v.line) for v in found if v.kind == EXHAUSTED_STEPPED] == [(EXHAUSTED_STEPPED, lines[6])]
    assert UNSUPPORTED not in {v.kind for v in found}


def tried_lines(completion: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return [(m["state"], m["attempts"]) for m in map(pattern.fullmatch, completion.split("\n")) if m is not None]


def test_real_runs_show_the_same_attempts_as_metacot_and_pass_both_audits(noisy):
    """Every record of a noisy MCTS and A* run: the tokens <tried> lines are metacot's attempts lines, each comes right
    before a backtrack (or another <tried> line), and no exhausted claim is unsupported to the reader."""
    shown = 0
    tokens_tried = re.compile(r"<tried> (?P<state>\[[^]]*\]): (?P<attempts>.+)")
    for tree in noisy.trees:
        record = linearize(tree, DOMAIN, "tokens", CONFIG)
        metacot = linearize(tree, DOMAIN, "metacot", CONFIG)
        assert record is not None and metacot is not None
        lines = record["completion"].split("\n")
        listed = tried_lines(record["completion"], tokens_tried)
        assert listed == tried_lines(metacot["completion"], METACOT_ATTEMPTS)
        followers = [lines[i + 1] for i, line in enumerate(lines) if line.startswith("<tried> ")]
        assert all(f.startswith(("<tried> ", "<backtrack ")) for f in followers)
        assert audit_record(record, tree, DOMAIN).failures == []
        assert UNSUPPORTED not in reader_kinds(record, tree)
        shown += len(listed)
    assert shown > 0
