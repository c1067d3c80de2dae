"""Slips as a reader meets them: a backtrack to numbers that both a wrong result taken at face value and a true step
reached names the step that reached the one it goes to (a reader takes the latest state with those numbers), and a
slip no sentence can call wrong is not written (walk.shown_found)."""

from __future__ import annotations

from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.audit import audit_record
from metacot.linearize.reader import read_record
from metacot.policy.base import Proposal
from metacot.problems import CountdownDomain
from metacot.search.expand import grow
from metacot.tree import Node, SearchTree

PROBLEM = {"id": "p", "numbers": [70, 1, 27, 40], "target": 49}
SLIP, TRUE = "27 - 1 = 28", "1 + 27 = 28"  # both leave [70, 40, 28]
BACK = "back to [70, 40, 28] (reached by 27 - 1 = 28)"


def searched(fmt: str) -> tuple[dict, SearchTree, CountdownDomain, object]:
    """The slip, then the true step to the same numbers, then back to the slip and down it to a finished path whose
    check names the slip, then down the true step to the target: the record of `fmt`, tree, domain and problem."""
    domain = CountdownDomain("when-found")
    problem = domain.problem_from_dict(PROBLEM)
    tree = SearchTree.with_root("p", PROBLEM, domain.root_state(problem))
    tree.visit(tree.root)
    slip, true = grow(domain, problem, tree, tree.root, [Proposal(SLIP), Proposal(TRUE)])
    tree.visit(slip)
    tree.visit(true)

    def down(node: Node, steps: list[str]) -> None:
        tree.visit(node)
        for step in steps:
            node = grow(domain, problem, tree, node, [Proposal(step)])[0]
            tree.visit(node)

    down(slip, ["70 * 28 = 1960", "1960 / 40 = 49"])
    down(true, ["70 * 28 = 1960", "1960 / 40 = 49"])
    record = linearize(tree, domain, fmt, LinearizeConfig(include_unsolved=True))
    assert record is not None and record["correct"]
    return record, tree, domain, problem


def test_a_return_to_a_slip_whose_numbers_a_true_step_reached_since_names_it():
    """Without the step named, the reader goes back to the true step's [70, 40, 28]: a win left at the mistake
    backtrack, and [40, 1960] reached twice. With it, both audits read the record clean; a name the tree does not
    hold fails both."""
    record, tree, domain, problem = searched("metacot")
    lines = record["completion"].split("\n")
    assert sum(BACK in line for line in lines) == 1, lines
    assert audit_record(record, tree, domain).failures == [] and read_record(record, domain, problem) == []
    bare = {**record, "completion": record["completion"].replace(" (reached by 27 - 1 = 28)", "", 1)}
    assert {v.kind for v in read_record(bare, domain, problem)} >= {"win_unshown", "repeated_state"}
    wrong = {**record, "completion": record["completion"].replace("(reached by 27 - 1", "(reached by 1 + 27", 1)}
    assert audit_record(wrong, tree, domain).failures and read_record(wrong, domain, problem)


def test_the_tokens_format_names_it_too():
    record, tree, domain, problem = searched("tokens")
    assert "> [70, 40, 28] (reached by 27 - 1 = 28)\n" in record["completion"], record["completion"]
    assert audit_record(record, tree, domain).failures == [] and read_record(record, domain, problem) == []
    bare = {**record, "completion": record["completion"].replace(" (reached by 27 - 1 = 28)", "", 1)}
    assert read_record(bare, domain, problem)


def left_unverified(fmt: str) -> tuple[dict, SearchTree, CountdownDomain, object]:
    """The slip 19 - 4 = 13, left for a sibling before anything below it was checked; the search finds it later by
    expanding it from elsewhere (as beam does a layer at a time), then solves from the sibling."""
    domain = CountdownDomain("when-found")
    problem = domain.problem_from_dict({"id": "q", "numbers": [19, 4, 7], "target": 22})
    tree = SearchTree.with_root("q", {"id": "q", "numbers": [19, 4, 7], "target": 22}, domain.root_state(problem))
    tree.visit(tree.root)
    slip, true = grow(domain, problem, tree, tree.root, [Proposal("19 - 4 = 13"), Proposal("19 + 7 = 26")])
    tree.visit(slip)
    tree.visit(true)
    grow(domain, problem, tree, slip, [Proposal("7 + 13 = 20")])
    tree.visit(grow(domain, problem, tree, true, [Proposal("26 - 4 = 22")])[0])
    assert slip.noticed_at is not None
    record = linearize(tree, domain, fmt, LinearizeConfig(include_unsolved=True))
    assert record is not None and record["correct"]
    return record, tree, domain, problem


def test_a_slip_the_text_leaves_before_its_finding_is_not_written():
    """No sentence could call 19 - 4 = 13 wrong: the text stood there only before anything below it was checked.
    It is left out, as paper and sos leave it out; written back in, the reader finds arithmetic nothing names."""
    for fmt in ("metacot", "tokens"):
        record, tree, domain, problem = left_unverified(fmt)
        assert "19 - 4 = 13" not in record["completion"] and record["num_backtracks"] == 0, record["completion"]
        assert audit_record(record, tree, domain).failures == [] and read_record(record, domain, problem) == []
    slipped = "<step> 19 - 4 = 13\n<backtrack to=0 reason=exploration> [19, 4, 7]\n<step> 19 + 7"
    forged = {**record, "completion": record["completion"].replace("<step> 19 + 7", slipped)}
    assert [v.kind for v in read_record(forged, domain, problem)] == ["arithmetic"]
