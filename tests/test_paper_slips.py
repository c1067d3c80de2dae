"""The paper format under notice = "when-found": a slip no written check names is left out with what is below it,
and the step after the left-out stretch says where it comes from as a reader reads it: a plain step where it goes on
from the last step written, "Alternatively, " where it goes back to an earlier one; the tree audit reads it so."""

from __future__ import annotations

from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.audit import audit_record
from metacot.linearize.reader import read_record
from metacot.policy.base import Proposal
from metacot.problems import CountdownDomain
from metacot.search.expand import grow
from metacot.tree import SearchTree

PROBLEM = {"id": "p", "numbers": [19, 4, 7], "target": 22}
SLIP = "19 - 4 = 13"  # found by a check made after it was found, which the walk never writes: no text names it


def searched(before: list[str], after: list[str]) -> tuple[dict, SearchTree, CountdownDomain, object]:
    """A search that walks the steps `before` down from the root, then the slip and its check, then the steps
    `after` down from the root: its paper record, tree, domain and problem."""
    domain = CountdownDomain("when-found")
    problem = domain.problem_from_dict(PROBLEM)
    tree = SearchTree.with_root("p", PROBLEM, domain.root_state(problem))
    tree.visit(tree.root)
    firsts = [Proposal(steps[0]) for steps in (before, after) if steps]
    slip, *heads = grow(domain, problem, tree, tree.root, [Proposal(SLIP), *firsts])
    starts = iter(heads)
    for steps in (chain for chain in (before, [SLIP, "7 + 13 = 20"], after) if chain):
        node = slip if steps[0] == SLIP else next(starts)
        tree.visit(node)
        for step in steps[1:]:
            node = grow(domain, problem, tree, node, [Proposal(step)])[0]
            tree.visit(node)
    record = linearize(tree, domain, "paper", LinearizeConfig(include_unsolved=True))
    assert record is not None and record["correct"]
    return record, tree, domain, problem


def test_paper_leaves_out_a_slip_its_text_never_names():
    """The slip 19 - 4 = 13 would stand as right arithmetic; it is left out with what is below it, and the next
    step goes on from where the text stands (no "Alternatively"). Both audits read the text clean; the reader
    catches the slip written back in, the tree audit a wrong state."""
    record, tree, domain, problem = searched([], ["19 + 7 = 26", "26 - 4 = 22"])
    assert record["num_backtracks"] == 0
    assert record["completion"].startswith("<think>\n19 + 7 = 26. Now I have [4, 26].\n26 - 4 = 22."), record
    assert audit_record(record, tree, domain).failures == [] and read_record(record, domain, problem) == []
    slipped = "19 - 4 = 13. Now I have [7, 13].\nAlternatively, 19 + 7 = 26."
    forged = {**record, "completion": record["completion"].replace("19 + 7 = 26.", slipped, 1)}
    assert read_record(forged, domain, problem)
    wrong = {**record, "completion": record["completion"].replace("[4, 26]", "[4, 27]", 1)}
    assert audit_record(wrong, tree, domain).failures


def test_after_a_left_out_slip_a_step_from_an_earlier_state_is_a_switch():
    """The text stands on a finished path below [7, 76] when the search leaves it for the slip; the step after the
    left-out stretch is from the root: "Alternatively, ", read from there by the tree audit and the reader alike; a
    plain step would claim it goes on from 69, where neither finds it."""
    record, tree, domain, problem = searched(["19 * 4 = 76", "76 - 7 = 69"], ["7 - 4 = 3", "19 + 3 = 22"])
    lines = record["completion"].split("\n")
    assert lines[1:5] == [
        "19 * 4 = 76. Now I have [7, 76].",
        "76 - 7 = 69. 69 is not 22.",
        "Alternatively, 7 - 4 = 3. Now I have [19, 3].",
        "19 + 3 = 22. 22 = 22, the target.",
    ], lines
    assert record["num_backtracks"] == 1 and SLIP not in record["completion"]
    assert audit_record(record, tree, domain).failures == [] and read_record(record, domain, problem) == []
    plain = {**record, "completion": record["completion"].replace("Alternatively, ", "", 1)}
    assert audit_record(plain, tree, domain).failures and read_record(plain, domain, problem)
