"""A noticed slip is repaired: the domain's corrected step becomes a child of the slip's parent, the trace writes it
where the search takes it up (right after naming the slip when the search goes on from it next); with notice =
"when-found", each slip is named once and nothing is built on a step called wrong; the audit flags a trace that does
either."""

from __future__ import annotations

import re

import pytest
from conftest import generate_problems, run_search

from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.audit import audit_record
from metacot.linearize.reader import read_record
from metacot.linearize.reader.checks import REPAIR_FIRST
from metacot.linearize.walk import trace_to_solution, walk
from metacot.policy.base import Proposal
from metacot.policy.config import SymbolicPolicyConfig
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.config import OracleConfig
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems import CountdownDomain
from metacot.search.astar import AStarConfig
from metacot.search.budget import Budget
from metacot.search.expand import grow, settled
from metacot.search.mcts import MCTSConfig
from metacot.tree import ROOT, SearchTree

PROBLEM = {"id": "p", "numbers": [19, 4, 7], "target": 22}
CONFIG = LinearizeConfig(include_unsolved=True)
NAMED = re.compile(r"(?:Checking the steps(?: of the paths I finished from \[[^\]]*\])?: |Wait, that's wrong: |wrong: )"
                   r"(?P<why>[^;()]+? is -?[\d/]+, not -?[\d/]+)")


def countdown_tree() -> tuple[SearchTree, CountdownDomain, object]:
    domain = CountdownDomain("when-found")
    problem = domain.problem_from_dict(PROBLEM)
    return SearchTree.with_root("p", PROBLEM, domain.root_state(problem)), domain, problem


def test_a_slip_gets_a_corrected_sibling_computed_by_the_domain():
    domain = CountdownDomain()  # immediate: a wrong result is a dead node at once
    problem = domain.problem_from_dict(PROBLEM)
    tree = SearchTree.with_root("p", PROBLEM, domain.root_state(problem))
    children = grow(domain, problem, tree, tree.root, [Proposal("19 - 4 = 13"), Proposal("19 + 4 = 23")])
    slip, right, fixed = children
    assert slip.dead and slip.error == "19 - 4 is 15, not 13"
    assert fixed.step == "19 - 4 = 15" and fixed.state == (7, 15) and not fixed.dead
    assert fixed.parent == ROOT and slip.repair == fixed.id and right.repair is None
    assert tree.compute.nodes == 4 and tree.compute.repairs == 1 and tree.compute.proposals == 2
    assert SearchTree.from_dict(tree.to_dict()).nodes[slip.id].repair == fixed.id  # saved with the tree

    # the policy proposed the corrected step too: that child is the repair, none is made
    tree = SearchTree.with_root("p", PROBLEM, domain.root_state(problem))
    slip, proposed = grow(domain, problem, tree, tree.root, [Proposal("19 - 4 = 13"), Proposal("19 - 4 = 15")])
    assert slip.repair == proposed.id and tree.compute.repairs == 0 and len(tree.nodes) == 3


def test_a_slip_found_below_is_repaired_and_nothing_below_it_grows():
    tree, domain, problem = countdown_tree()
    (slip,) = grow(domain, problem, tree, tree.root, [Proposal("19 - 4 = 13")])
    assert slip.slip == "19 - 4 is 15, not 13" and not slip.dead and slip.repair is None  # taken at face value
    tree.visit(tree.root)
    tree.visit(slip)
    (finished,) = grow(domain, problem, tree, slip, [Proposal("7 + 13 = 20")])  # its verification finds the slip
    assert finished.dead and slip.noticed_at == len(tree.trace) and settled(tree, slip)
    fixed = tree.nodes[slip.repair]
    assert fixed.parent == ROOT and fixed.step == "19 - 4 = 15" and fixed.state == (7, 15)
    # handed to the search with the root's next expansion, like a child the policy proposed
    assert fixed in grow(domain, problem, tree, tree.root, [])


def test_the_trace_repairs_the_slip_and_goes_on_from_the_correction():
    domain = CountdownDomain()
    problem = domain.problem_from_dict(PROBLEM)
    tree = SearchTree.with_root("p", PROBLEM, domain.root_state(problem))
    tree.visit(tree.root)
    slip, fixed = grow(domain, problem, tree, tree.root, [Proposal("19 - 4 = 13")])
    tree.visit(slip)
    tree.visit(fixed)
    (win,) = grow(domain, problem, tree, fixed, [Proposal("7 + 15 = 22")])
    tree.visit(win)
    record = linearize(tree, domain, "metacot", CONFIG)
    assert record is not None and record["correct"]
    assert record["completion"].startswith(
        "<think>\n19 - 4 = 13. Wait, that's wrong: 19 - 4 is 15, not 13.\n19 - 4 = 15. Now I have [7, 15].\n"
        "7 + 15 = 22. 22 = 22, the target.\n</think>"
    )
    assert record["num_backtracks"] == 0
    for fmt in ("metacot", "tokens", "sos"):
        written = linearize(tree, domain, fmt, CONFIG)
        assert audit_record(written, tree, domain).failures == [], fmt
    # a correction that is not the domain's is caught
    forged = {**record, "completion": record["completion"].replace("19 - 4 = 15. Now I have [7, 15].", "19 + 4 = 23.")}
    assert audit_record(forged, tree, domain).failures


def test_a_correction_merged_into_another_node_is_not_written():
    """[19, 11] taken up first by "4 + 7 = 11"; a later slip's correction, "7 + 4 = 11", reaches it again: merged
    (search.protocol.Transpositions), never taken up, so the text names the slip and does not reach [19, 11] a second
    time; a correction the search takes up next is written right after its slip."""
    domain = CountdownDomain()
    problem = domain.problem_from_dict(PROBLEM)
    tree = SearchTree.with_root("p", PROBLEM, domain.root_state(problem))
    tree.visit(tree.root)
    (first,) = grow(domain, problem, tree, tree.root, [Proposal("4 + 7 = 11")])
    tree.visit(first)
    slip, fixed = grow(domain, problem, tree, tree.root, [Proposal("7 + 4 = 12")])
    tree.visit(slip)
    assert [move.node for move in walk(tree, [*tree.trace, fixed.id])] == [first.id, ROOT, slip.id, fixed.id]
    fixed.transposes, first.duplicates = first.id, 1
    assert [move.node for move in walk(tree, tree.trace)] == [first.id, ROOT, slip.id]
    record = linearize(tree, domain, "metacot", CONFIG)
    assert record is not None and record["completion"].count("Now I have [19, 11].") == 1
    assert audit_record(record, tree, domain).failures == []


def test_a_correction_the_search_takes_up_later_is_written_there_not_with_the_slip():
    """The text stands only at states the search took up: a correction written with its slip would leave [7, 15],
    one step from 22, unexamined while the search tries 19 + 4 = 23 first."""
    domain = CountdownDomain()
    problem = domain.problem_from_dict(PROBLEM)
    tree = SearchTree.with_root("p", PROBLEM, domain.root_state(problem))
    tree.visit(tree.root)
    slip, right, fixed = grow(domain, problem, tree, tree.root, [Proposal("19 - 4 = 13"), Proposal("19 + 4 = 23")])
    for node in (slip, right, fixed):
        tree.visit(node)
    (win,) = grow(domain, problem, tree, fixed, [Proposal("7 + 15 = 22")])
    tree.visit(win)
    record = linearize(tree, domain, "metacot", CONFIG)
    lines = record["completion"].split("\n")
    assert lines[1] == "19 - 4 = 13. Wait, that's wrong: 19 - 4 is 15, not 13."
    written = [i for i, line in enumerate(lines) if line.startswith(("19 + 4 = 23.", "19 - 4 = 15.", "7 + 15 = 22."))]
    assert [lines[i].split(".")[0] for i in written] == ["19 + 4 = 23", "19 - 4 = 15", "7 + 15 = 22"]
    assert written[2] == written[1] + 1  # from the correction on to the solution: nothing left in between
    for fmt in ("metacot", "tokens", "sos"):
        assert audit_record(linearize(tree, domain, fmt, CONFIG), tree, domain).failures == [], fmt


@pytest.mark.parametrize("search", ["mcts", "astar"])
def test_when_found_names_each_slip_once_and_never_builds_on_it(search):
    domain = CountdownDomain("when-found")
    config = MCTSConfig(simulations=100) if search == "mcts" else AStarConfig(budget=Budget(policy_calls=100))
    policy = SymbolicCountdownPolicy(SymbolicPolicyConfig(mistake_rate=0.3))
    trees, _ = run_search(generate_problems(40, seed=2), search, config, policy, CountdownOraclePRM(OracleConfig()),
                          domain)
    named = repaired = 0
    for tree in trees:
        record = linearize(tree, domain, "metacot", CONFIG)
        assert audit_record(record, tree, domain).failures == []
        lines = record["completion"].split("\n")
        whys = [m["why"] for line in lines for m in NAMED.finditer(line)]
        assert len(whys) == len(set(whys)), whys  # no slip named twice
        named += len(whys)
        for i, line in enumerate(lines):
            m = NAMED.search(line)
            if m and not line.startswith("From ["):
                expression, truth = re.fullmatch(r"(.+) is (\S+), not \S+", m["why"]).groups()
                repaired += any(x.startswith(f"{expression} = {truth}.") for x in lines[i + 1 : i + 3])
        # no step written below a slip from the visit its wrong result was found at; a corrected step written only
        # where the search takes it up (the text never stands at a state the search did not examine)
        trace, _ = trace_to_solution(tree, CONFIG.stop_at_first_solution)
        corrections = {node.repair for node in tree.nodes}
        for move in walk(tree, trace):
            assert move.kind == "backtrack" or tree.found_slip(move.node, move.visit) is None
            assert move.kind == "backtrack" or move.node not in corrections or move.node in trace
    assert named
    assert repaired or search == "astar"  # A* is handed a found slip's correction when it widens the slip's parent


def test_the_audit_flags_a_rediscovered_slip_and_steps_built_on_it():
    """A tree saved before slips were repaired: the trace names the slip below it, goes back into its subtree and
    names it again."""
    tree, domain, problem = countdown_tree()
    slip = tree.add_child(tree.root, "19 - 4 = 13", state=(7, 13), slip="19 - 4 is 15, not 13")
    first = tree.add_child(slip, "7 + 13 = 20", state=(20,), terminal=True, correct=False)
    again = tree.add_child(slip, "13 - 7 = 6", state=(6,), terminal=True, correct=False)
    slip.expanded, slip.expanded_at = True, 2
    tree.root.expanded, tree.root.expanded_at = True, 0
    tree.trace = [ROOT, slip.id, first.id, again.id]
    record = linearize(tree, domain, "metacot", CONFIG)
    body = record["completion"]
    assert body.count("Checking the steps: 19 - 4 is 15, not 13.") == 2
    got = [f.message for f in audit_record(record, tree, domain).failures]
    assert any("re-discovered" in m for m in got), got
    assert any("builds on '19 - 4 = 13', a step the text called wrong" in m for m in got), got


def dead_correction_tree() -> tuple[SearchTree, CountdownDomain]:
    """[7, 15] tried "15 - 7 = 9" (wrong) and, with it, its correction "15 - 7 = 8" (8 is not 22): the search leaves
    [7, 15] and visits the slip only later (as MCTS visits a dead step)."""
    domain = CountdownDomain()
    problem = domain.problem_from_dict(PROBLEM)
    tree = SearchTree.with_root("p", PROBLEM, domain.root_state(problem))
    tree.visit(tree.root)
    here, other = grow(domain, problem, tree, tree.root, [Proposal("19 - 4 = 15"), Proposal("4 + 7 = 11")])
    tree.visit(here)
    slip, _, fixed = grow(domain, problem, tree, here, [Proposal("15 - 7 = 9"), Proposal("7 * 15 = 105")])
    assert fixed.dead and slip.repair == fixed.id
    for node in (other, slip):
        tree.visit(node)
    (win,) = grow(domain, problem, tree, here, [Proposal("7 + 15 = 22")])
    tree.visit(win)
    return tree, domain


def live_correction_tree() -> tuple[SearchTree, CountdownDomain]:
    """The search takes up the correction "19 - 4 = 15" first, and visits its dead slip "19 - 4 = 13" later."""
    domain = CountdownDomain()
    problem = domain.problem_from_dict(PROBLEM)
    tree = SearchTree.with_root("p", PROBLEM, domain.root_state(problem))
    tree.visit(tree.root)
    slip, right, fixed = grow(domain, problem, tree, tree.root, [Proposal("19 - 4 = 13"), Proposal("19 + 4 = 23")])
    tree.visit(fixed)
    (dead_end,) = grow(domain, problem, tree, fixed, [Proposal("7 * 15 = 105")])
    for node in (dead_end, right, slip):
        tree.visit(node)
    (win,) = grow(domain, problem, tree, fixed, [Proposal("7 + 15 = 22")])
    tree.visit(win)
    return tree, domain


@pytest.mark.parametrize(
    ("made", "slip", "correction"),
    [
        (dead_correction_tree, "15 - 7 = 9. Wait, that's wrong: 15 - 7 is 8, not 9.", "15 - 7 = 8. 8 is not 22."),
        (live_correction_tree, "19 - 4 = 13. Wait, that's wrong: 19 - 4 is 15, not 13.", "19 - 4 = 15. Now I have"),
    ],
)
def test_a_correction_is_written_right_after_its_slip_never_before(made, slip, correction):
    """A correction tried with its slip (listed among the failed steps when the search leaves) or taken up before
    the search visits its slip is not written before the slip: the slip comes first, its correction right after it,
    each once; the reader finds no repair before its slip (the old text wrote the correction first)."""
    tree, domain = made()
    record = linearize(tree, domain, "metacot", CONFIG)
    lines = record["completion"].split("</think>")[0].split("\n")
    expression = correction.split(" = ")[0]
    assert sum(expression in line for line in lines) == 2, lines  # the slip's line and its correction's
    at = lines.index(slip)
    assert lines[at + 1].startswith(correction), lines
    problem = domain.problem_from_dict(tree.problem)
    for fmt in ("metacot", "tokens", "sos", "paper"):
        written = linearize(tree, domain, fmt, CONFIG)
        assert audit_record(written, tree, domain).failures == [], fmt
        assert REPAIR_FIRST not in {v.kind for v in read_record(written, domain, problem)}, fmt


def listed_slip_tree(visited: bool = False) -> tuple[SearchTree, CountdownDomain]:
    """[65, 68, 9] tried "68 + 9 = 79" (wrong; its correction "68 + 9 = 77" made with it, never taken up; `visited`:
    the search visits the slip, as MCTS visits a dead step), and the search left for "68 - 65 = 3", which solves:
    81 / 3 = 27, 90 - 27 = 63."""
    domain = CountdownDomain()
    problem = domain.problem_from_dict({"id": "q", "numbers": [81, 65, 90, 68], "target": 63})
    tree = SearchTree.with_root("q", {"id": "q", "numbers": [81, 65, 90, 68], "target": 63}, problem.numbers)
    tree.visit(tree.root)
    here, other = grow(domain, problem, tree, tree.root, [Proposal("90 - 81 = 9"), Proposal("68 - 65 = 3")])
    tree.visit(here)
    slip, fixed = grow(domain, problem, tree, here, [Proposal("68 + 9 = 79")])
    assert slip.repair == fixed.id and not fixed.dead
    if visited:
        tree.visit(slip)
    tree.visit(other)
    (half,) = grow(domain, problem, tree, other, [Proposal("81 / 3 = 27")])
    tree.visit(half)
    (win,) = grow(domain, problem, tree, half, [Proposal("90 - 27 = 63")])
    tree.visit(win)
    return tree, domain


@pytest.mark.parametrize("score", [None, 0.25])
@pytest.mark.parametrize("visited", [False, True])
def test_a_named_slip_is_followed_by_its_correction(score, visited):
    """A slip named in the attempts listed when the search leaves its state, or written as the step the text stands
    at when it leaves, is repaired there: its correction (a real child the search never took up) right after it,
    with the value the search held for it (or, with none, where it leads); both audits read it (the old text named
    the slip and left)."""
    tree, domain = listed_slip_tree(visited)
    fixed = tree.nodes[next(n.repair for n in tree.nodes if n.step == "68 + 9 = 79")]
    fixed.score = score
    record = linearize(tree, domain, "metacot", CONFIG)
    lines = record["completion"].split("\n")
    said = "leads to [65, 77]" if score is None else "value 0.25"
    alone = f"From [65, 68, 9]: 68 + 9 = 77 ({said})."
    if visited:
        assert lines[2:4] == ["68 + 9 = 79. Wait, that's wrong: 68 + 9 is 77, not 79.", alone], lines
    else:
        assert lines[2] == f"From [65, 68, 9]: 68 + 9 = 79 (wrong: 68 + 9 is 77, not 79); 68 + 9 = 77 ({said}).", lines
    problem = domain.problem_from_dict(tree.problem)
    for fmt in ("metacot", "tokens"):
        written = linearize(tree, domain, fmt, CONFIG)
        assert f"68 + 9 = 77 ({said})" in written["completion"], fmt
        assert audit_record(written, tree, domain).failures == [], fmt
        assert read_record(written, domain, problem) == [], fmt
    # a step listed that did not fail, away from its slip, is caught by both
    forged = {**record, "completion": "\n".join([*lines[:2], *([] if visited else [alone]), *lines[3:]])}
    assert audit_record(forged, tree, domain).failures
    assert read_record(forged, domain, problem)


def test_a_slip_a_later_check_names_is_followed_by_its_correction_where_the_text_goes_back():
    # when-found: the check of a finished path names 19 - 4 = 13; the search never takes up 19 - 4 = 15 (it goes on
    # from 19 + 7 = 26), yet the text lists it, a real child, right after the mistake backtrack to its state
    tree, domain, problem = countdown_tree()
    tree.visit(tree.root)
    slip, other = grow(domain, problem, tree, tree.root, [Proposal("19 - 4 = 13"), Proposal("19 + 7 = 26")])
    tree.visit(slip)
    (finished,) = grow(domain, problem, tree, slip, [Proposal("7 + 13 = 20")])
    tree.visit(finished)
    tree.visit(other)
    (win,) = grow(domain, problem, tree, other, [Proposal("26 - 4 = 22")])
    tree.visit(win)
    fixed = tree.nodes[slip.repair]
    assert fixed.parent == ROOT and fixed.id not in tree.trace
    record = linearize(tree, domain, "metacot", CONFIG)
    assert record is not None and record["correct"]
    lines = record["completion"].split("\n")
    named = next(i for i, line in enumerate(lines) if "19 - 4 is 15, not 13" in line and "back" in line)
    assert lines[named + 1].startswith("From [19, 4, 7]: 19 - 4 = 15 ("), lines
    for fmt in ("metacot", "tokens", "sos"):
        assert audit_record(linearize(tree, domain, fmt, CONFIG), tree, domain).failures == [], fmt


@pytest.mark.parametrize(
    ("scores", "fix", "forged"),
    [
        ((None, None), "leads to [7, 15]; I found other steps before it", ("[7, 15];", "[7, 16];")),
        ((0.1, 0.7), "scores 0.10; another option scores higher (0.70)", ("0.10;", "0.80;")),
    ],
)
def test_a_named_slip_is_corrected_where_the_search_goes_on_elsewhere(scores, fix, forged):
    """when-found: the check of a finished path below [19, 4, 7] names 19 - 4 = 13, and the search goes on from
    19 + 4 = 23, not from the slip's state: the mistake backtrack names the correction, 19 - 4 = 15 (a real child
    the search never takes up), and why the next step comes first, as the tree grounds it (found before it; a lower
    value); the old text named the slip and never wrote its correction. Both audits read it: a wrong state or value
    is caught."""
    numbers = {"id": "r", "numbers": [19, 4, 7, 1], "target": 16}
    domain = CountdownDomain("when-found")
    problem = domain.problem_from_dict(numbers)
    tree = SearchTree.with_root("r", numbers, domain.root_state(problem))
    tree.visit(tree.root)
    here, other = grow(domain, problem, tree, tree.root, [Proposal("7 * 1 = 7"), Proposal("19 + 4 = 23")])
    tree.visit(here)
    (slip,) = grow(domain, problem, tree, here, [Proposal("19 - 4 = 13")])
    tree.visit(slip)
    (finished,) = grow(domain, problem, tree, slip, [Proposal("7 + 13 = 20")])
    tree.visit(finished)
    fixed = tree.nodes[slip.repair]
    fixed.score, other.score = scores
    tree.visit(other)
    (then,) = grow(domain, problem, tree, other, [Proposal("23 - 7 = 16")])
    tree.visit(then)
    (win,) = grow(domain, problem, tree, then, [Proposal("16 * 1 = 16")])
    tree.visit(win)
    assert fixed.parent == here.id and fixed.id not in tree.trace
    record = linearize(tree, domain, "metacot", CONFIG)
    assert record is not None and record["correct"]
    lines = record["completion"].split("\n")
    back = next(line for line in lines if "Its right version" in line)
    assert "19 - 4 is 15, not 13" in back and f"Its right version, 19 - 4 = 15, {fix}" in back and back.endswith(
        ("[19, 4, 7, 1].", "[19, 4, 7, 1] and try something else.", "[19, 4, 7, 1] and try another step.",
         "[19, 4, 7, 1] and try a different step.")
    ), lines  # fmt: skip
    assert lines[lines.index(back) + 1].startswith("19 + 4 = 23."), lines
    assert audit_record(record, tree, domain).failures == []
    assert read_record(record, domain, problem) == []
    wrong = {**record, "completion": record["completion"].replace(*forged)}
    assert audit_record(wrong, tree, domain).failures
    assert read_record(wrong, domain, problem)
