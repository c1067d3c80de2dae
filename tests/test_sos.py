"""The sos format as Stream of Search writes it: every legal operation at each state gone to, contiguous node ids,
its own backtrack count, no hidden win; replayed from the text alone, and audited line by line."""

from __future__ import annotations

import ast
import dataclasses
import re

import orjson
import pytest
from test_linearize import ALL, records, split

from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.audit import audit_record
from metacot.problems.countdown import CountdownProblem, apply_step, format_move, legal_moves, verify_answer
from metacot.tree import ROOT, SearchTree
from metacot.view.data import tree_payload

SOS_ID = r"0(?:,\d+)*"
OP = r"\d+[-+*/]\d+=\d+"
NUMS = r"\[[\d, ]*\]"
SOS_LINES = {
    "current": re.compile(rf"Current State: (?P<t>\d+):(?P<nums>{NUMS}), Operations: (?P<ops>\[.*\])"),
    "explore": re.compile(rf"Exploring Operation: (?P<op>{OP}), Resulting Numbers: (?P<nums>{NUMS})"),
    "generated": re.compile(rf"Generated Node #(?P<id>{SOS_ID}): (?P<t>\d+):(?P<nums>{NUMS}) Operation: (?P<op>{OP})"),
    "moving": re.compile(rf"Moving to Node #(?P<id>{SOS_ID})"),
    "goal": re.compile(r"(?P<v>\d+),(?P<t>\d+) (?P<verdict>equal: Goal Reached|unequal: No Solution)"),
}


def numbers(text: str) -> tuple[int, ...]:
    return tuple(orjson.loads(text))


def sos_operations(state: tuple[int, ...]) -> list[str]:
    """Stream of Search's combine_nums over the pairs i < j: a+b, a*b, larger-smaller, larger/smaller when whole."""
    found = []
    for i, a in enumerate(state):
        for b in state[i + 1 :]:
            hi, lo = max(a, b), min(a, b)
            found += [f"{a}+{b}={a + b}", f"{a}*{b}={a * b}", f"{hi}-{lo}={hi - lo}"]
            found += [f"{hi}/{lo}={hi // lo}"] if lo and hi % lo == 0 else []
    return list(dict.fromkeys(found))


def parse_sos(lines: list[str]) -> list[tuple[str, re.Match]]:
    parsed = []
    for line in lines:
        hits = [(kind, m) for kind, rx in SOS_LINES.items() if (m := rx.fullmatch(line))]
        assert len(hits) == 1, line
        parsed.append(hits[0])
    return parsed


def replay_sos(problem: CountdownProblem, lines: list[str]) -> tuple[list[str] | None, int]:
    """Check the log from the text alone: grammar, arithmetic, every operation listed in Stream of Search's order at
    each state gone to, node ids numbered 0, 1, 2, ... under each parent, returns restating the state. Returns the
    operations of the goal it reached (None: none) and the number of returns to a state written before."""
    target = problem.target
    known = {"0": ([], tuple(problem.numbers))}  # node id -> (operations, numbers), as the log announced them
    arrived: dict[str, str] = {}  # node id -> its Current State line
    goal, returns, moving_to, listing, here = None, 0, "0", None, "0"
    for i, (kind, m) in enumerate(parsed := parse_sos(lines)):
        if kind == "current":
            assert moving_to is not None, "a Current State line follows a move (or opens the log)"
            if moving_to in arrived:
                assert lines[i] == arrived[moving_to]
            else:
                ops, nums = ast.literal_eval(m["ops"]), numbers(m["nums"])
                assert int(m["t"]) == target and (ops, nums) == known[moving_to]
                state = tuple(problem.numbers)
                for op in ops:  # the operations really lead to the numbers
                    state = apply_step(state, op)
                assert state == nums
                arrived[moving_to] = lines[i]
                listing = (moving_to, ops, nums, [])
            here, moving_to = moving_to, None
        elif kind == "moving":
            assert moving_to is None and m["id"] in known, "only generated nodes are moved to"
            moving_to = m["id"]
            returns += moving_to in arrived
            assert moving_to in arrived or moving_to.rpartition(",")[0] == here, "forward moves go to a child"
            assert parsed[i + 1][0] == "current"
            listing = None
        elif kind == "explore":
            assert listing is not None
            assert numbers(m["nums"]) == apply_step(listing[2], m["op"])
            listing[3].append(m["op"])
        elif kind == "goal":
            op = listing[3][-1]
            value = apply_step(listing[2], op)[0]
            assert int(m["v"]) == value and int(m["t"]) == target
            assert (m["verdict"] == "equal: Goal Reached") == (value == target)
            if value == target:
                goal = [*listing[1], op]
                assert i == len(parsed) - 1, "the log ends at the goal"
        else:  # generated
            children = [k for k in known if k.rpartition(",")[0] == listing[0]]
            assert m["id"] == f"{listing[0]},{len(children)}", "node ids are contiguous"
            op = listing[3][-1]
            assert m["op"] == op and int(m["t"]) == target
            known[m["id"]] = ([*listing[1], op], apply_step(listing[2], op))
            assert numbers(m["nums"]) == known[m["id"]][1]
        if listing is not None and (i + 1 == len(parsed) or parsed[i + 1][0] == "moving"):  # a listing's end
            every = sos_operations(listing[2])
            listed = listing[3]
            assert listed[: len(every)] == every[: len(listed)], "Stream of Search's operations, in its order"
            assert len(listed) >= len(every) or goal is not None, "every operation, up to the goal"
    return goal, returns


def test_sos_lists_every_operation_and_counts_its_own_backtracks(noisy, domain):
    count = 0
    for problem, tree, record in records(noisy, "sos", ALL, domain):
        lines, answer = split(record)
        goal, returns = replay_sos(problem, lines)
        assert record["num_backtracks"] == returns
        assert record["num_steps"] == sum(line.startswith("Moving to Node #") for line in lines) - returns
        assert (goal is not None) == record["correct"] == (answer is not None)
        assert not tree.solved or record["correct"], "the search's solution is always among the operations listed"
        if goal is not None:
            state = tuple(problem.numbers)
            for op in goal:
                state = apply_step(state, op)
            assert state == (problem.target,) and verify_answer(problem, answer)
        assert audit_record(record, tree, domain).failures == []
        count += 1
    assert count == len(noisy.trees)


def test_the_domain_lists_stream_of_searchs_operations(domain):
    for state in [(8, 71, 2, 12), (6, 5), (3, 3, 9), (7, 1, 14, 7)]:
        steps = domain.legal_steps(None, state)
        assert [s.replace(" ", "") for s in steps] == sos_operations(state)
        assert {format_move(m) for m in legal_moves(state, "sos")} == set(steps)


def test_a_win_the_search_did_not_make_is_not_hidden(domain):
    # Found on real runs: at 30:[6, 5] the PRM's flipped score kept 6*5=30 from being made; the search went on.
    tree = SearchTree.with_root("p", {"id": "p", "numbers": [1, 5, 6], "target": 30}, (1, 5, 6), search="dfs")
    tree.root.expanded = True
    a = tree.add_child(tree.root, "1 * 6 = 6", state=(5, 6), expanded=True)
    tree.add_child(a, "5 + 6 = 11", state=(11,), terminal=True, correct=False)
    b = tree.add_child(tree.root, "1 * 5 = 5", state=(6, 5), expanded=True)
    solution = tree.add_child(b, "6 * 5 = 30", state=(30,), terminal=True, correct=True)
    tree.trace = [ROOT, a.id, a.children[0], b.id, solution.id]
    record = linearize(tree, domain, "sos", LinearizeConfig())
    lines, answer = split(record)
    assert lines[-2:] == ["Exploring Operation: 5*6=30, Resulting Numbers: [30]", "30,30 equal: Goal Reached"]
    goal, returns = replay_sos(CountdownProblem("p", (1, 5, 6), 30), lines)
    assert goal == ["1*6=6", "5*6=30"] and returns == record["num_backtracks"] == 0
    assert verify_answer(CountdownProblem("p", (1, 5, 6), 30), answer) and record["correct"]
    assert audit_record(record, tree, domain).failures == []


def test_the_goal_is_the_first_win_its_listings_show(domain):
    # Both depth-1 nodes have a correct child; the search made only the second one's.
    tree = SearchTree.with_root("p", {"id": "p", "numbers": [2, 3, 5], "target": 10}, (2, 3, 5), search="astar")
    a = tree.add_child(tree.root, "2 + 3 = 5", state=(5, 5), score=1.0, expanded=True)
    b = tree.add_child(tree.root, "3 + 5 = 8", state=(2, 8), score=1.0, expanded=True)
    tree.root.expanded = True
    solution = tree.add_child(b, "2 + 8 = 10", state=(10,), terminal=True, correct=True, score=1.0)
    tree.trace = [ROOT, a.id, b.id, solution.id]
    record = linearize(tree, domain, "sos", LinearizeConfig())
    lines, answer = split(record)
    goal, _ = replay_sos(CountdownProblem("p", (2, 3, 5), 10), lines)
    assert goal == ["2+3=5", "5+5=10"] and verify_answer(CountdownProblem("p", (2, 3, 5), 10), answer)
    assert audit_record(record, tree, domain).failures == []


def test_sos_ends_at_a_goal_found_among_the_roots_children(domain):
    tree = SearchTree.with_root("p", {"id": "p", "numbers": [2, 8], "target": 10}, (2, 8), search="astar")
    tree.root.expanded = True
    wrong = tree.add_child(tree.root, "2 * 8 = 16", state=(16,), terminal=True, correct=False, score=0.9)
    right = tree.add_child(tree.root, "2 + 8 = 10", state=(10,), terminal=True, correct=True, score=0.8)
    tree.trace = [ROOT, wrong.id, right.id]
    record = linearize(tree, domain, "sos", LinearizeConfig())
    lines, _ = split(record)
    assert lines[1:] == ["Exploring Operation: 2+8=10, Resulting Numbers: [10]", "10,10 equal: Goal Reached"]


def test_sos_never_moves_to_the_node_it_stands_at(noisy_runs, domain):
    repeated = 0
    for run in noisy_runs.values():
        for _, _, record in records(run, "sos", ALL, domain):
            lines, _ = split(record)
            at = "0"
            for line in lines:
                m = SOS_LINES["moving"].fullmatch(line)
                if m is not None:
                    repeated += m["id"] == at
                    at = m["id"]
    assert repeated == 0


@pytest.fixture
def audited(noisy, domain):
    """A sos record with a return and a failed operation, and its tree, that audits clean."""
    for _, tree, record in records(noisy, "sos", ALL, domain):
        if record["num_backtracks"] and record["correct"] and "unequal: No Solution" in record["completion"]:
            assert audit_record(record, tree, domain).failures == []
            return record, tree
    raise AssertionError("no sos record with a backtrack")


def tampered(audited, domain, old: str, new: str) -> list[str]:
    record, tree = audited
    assert re.search(old, record["completion"])
    changed = {**record, "completion": re.sub(old, new, record["completion"], count=1)}
    return [f.message for f in audit_record(changed, tree, domain).failures]


def test_the_audit_catches_a_wrong_result(audited, domain):
    got = tampered(audited, domain, r"Resulting Numbers: \[(\d+)", r"Resulting Numbers: [1\1")
    assert got and got[0].startswith("it gives [")
    got = tampered(audited, domain, r"(Exploring Operation: \d+\+\d+=\d+)", r"\g<1>1")
    assert got and got[0].startswith("wrong step: ")


def test_the_audit_catches_a_missing_operation_and_a_gap_in_ids(audited, domain):
    got = tampered(audited, domain, r"Exploring Operation: [^\n]*\n\d+,\d+ unequal: No Solution\n", "")
    assert got and got[0].startswith("does not list every operation")
    got = tampered(audited, domain, r"Generated Node #0,1:", "Generated Node #0,2:")
    assert got and got[0].startswith("the node generated is")


def test_the_audit_catches_a_wrong_count_and_a_wrong_return(audited, domain):
    record, tree = audited
    wrong = {**record, "num_backtracks": record["num_backtracks"] + 1}
    assert [f.message for f in audit_record(wrong, tree, domain).failures][0].startswith("the record says")
    lines = record["completion"].split("\n")
    gone = ["Moving to Node #0"]  # the moves to the nodes gone to, in order
    back = next(
        i for i, line in enumerate(lines) if line.startswith("Moving to Node #") and (line in gone or gone.append(line))
    )
    lines[back + 1] = lines[back + 1].replace("Operations: [", "Operations: ['1+1=2', ")  # not the state there
    wrong = {**record, "completion": "\n".join(lines)}
    assert [f.message for f in audit_record(wrong, tree, domain).failures][0].startswith("the state there is")


def test_the_viewer_keeps_a_sos_record_by_its_own_count(noisy, domain):
    for tree in noisy.trees:
        record = linearize(tree, domain, "sos", ALL)
        config = dataclasses.replace(ALL, max_backtracks=record["num_backtracks"])
        payload = tree_payload(tree, domain, config, "sos")
        if payload["backtracks"] > record["num_backtracks"]:  # the search's walk goes back more often than the log
            assert payload["in_traces"]
            return
    raise AssertionError("no tree whose walk goes back more often than its sos log")
