"""A backtrack to numbers that both a wrong result taken at face value and a true step reached names the step that
reached the one it goes to: a reader, who takes the latest state with those numbers, goes where the search went."""

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
