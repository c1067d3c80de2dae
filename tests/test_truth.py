"""Labels and pairs against the exact truth: the report's numbers on a hand-built tree whose truth is known, pairs
that never choose a wrong step, pairs from unsolvable problems left out unless asked for, and the dataset cards."""

from __future__ import annotations

import pytest

from metacot.cli import main
from metacot.outputs.export import export_pairs, export_prm_labels
from metacot.outputs.labels import LabelRule, label_records
from metacot.outputs.pairs import PairOptions, pair_records
from metacot.outputs.quality import pair_section
from metacot.outputs.rundir import RunDir
from metacot.outputs.truth import Truths, check_labels, check_pairs, mc_rows
from metacot.problems import CountdownDomain, MathDomain
from metacot.tree import SearchTree

WHEN_FOUND = CountdownDomain("when-found")
# (step, state after it, PRM score, slip) for the root's children of 2, 3, 5 -> 10; truly good: 2 + 3 and 2 + 5
FIRST_STEPS = [
    ("2 + 3 = 5", [5, 5], 0.9, None),
    ("2 * 3 = 6", [5, 6], 0.8, None),
    ("3 + 5 = 9", [2, 9], 0.7, "3 + 5 is 8, not 9"),
    ("2 + 5 = 7", [3, 7], 0.2, None),
    ("2 * 5 = 10", [3, 10], 0.1, None),
    ("3 * 5 = 15", [2, 15], 0.55, None),
]
TRULY_GOOD = [True, True, False, False, True, False, False, True, False]  # by node id


def known_tree(target: int = 10) -> SearchTree:
    tree = SearchTree.with_root("p", {"id": "p", "numbers": [2, 3, 5], "target": target}, [2, 3, 5])
    for step, state, score, slip in FIRST_STEPS:
        tree.add_child(tree.root, step, state=state, score=score, slip=slip)
    first = tree.nodes[1]
    first.expanded = True
    tree.add_child(first, "5 + 5 = 10", state=[10], terminal=True, correct=True)
    tree.add_child(first, "5 * 5 = 25", state=[25], terminal=True, correct=False)
    return tree


def test_the_truth_of_each_node():
    tree = known_tree()
    truths = Truths()
    truths.add(tree, WHEN_FOUND)
    truth = truths.trees["p"]
    assert truth.good == TRULY_GOOD and truth.solvable is True
    assert truth.wrong == [False, False, False, True, False, False, False, False, False]


def test_label_precision_and_recall_by_depth():
    tree = known_tree()
    truths = Truths()
    truths.add(tree, WHEN_FOUND)
    records = list(label_records(tree, WHEN_FOUND, LabelRule("prm", 0.5)))
    check = check_labels(records, truths)
    # depth 1: 2 + 3 good on good; 2 * 3 and 3 * 5 good on bad; 2 + 5 bad on good; 3 + 5 (a slip: 0), 2 * 5 bad on
    # bad; depth 2: the solution good on good, the wrong answer bad on bad. Each node once, though 2 + 3 is on two
    # paths.
    assert check.total().cells() == ["8", "0.000", "4", "0.500", "0.667", "0.667", "0.750", "0.600"]
    assert check.by_depth[1].cells() == ["6", "0.000", "3", "0.333", "0.500", "0.500", "0.667", "0.500"]
    assert check.by_depth[2].cells() == ["2", "0.000", "1", "1.000", "1.000", "1.000", "1.000", "1.000"]
    assert check.undecided == 0


def test_pairs_against_the_truth():
    tree = known_tree()
    truths = Truths()
    truths.add(tree, WHEN_FOUND)
    records = list(pair_records(tree, WHEN_FOUND, PairOptions(0.3, single_scores=True)))
    checks = check_pairs(records, truths)
    # 10 sibling pairs 0.3 apart: 3 with a truly good step over a truly bad one, 2 inverted (2 * 3 and 3 * 5 over
    # 2 + 5), the rest between two good or two bad steps; the slip 3 + 5 only ever rejected
    gap = checks["step (value_gap)"]
    assert (gap.pairs, gap.better, gap.inverted, gap.wrong_chosen, gap.unsolvable) == (10, 3, 2, 0, 0)
    assert gap.cells()[1] == "0.300"
    assert checks["step (verified)"].better == checks["trajectory (verified)"].better == 1
    (trajectory,) = [r for r in records if r["kind"] == "trajectory"]
    lengths = f"{len(trajectory['chosen']):.1f} / {len(trajectory['rejected']):.1f}"
    assert checks["trajectory (verified)"].cells()[-1] == lengths and trajectory["rejected_node"] == 8
    slip_chosen = {**records[0], "chosen_node": 3, "rejected_node": 1}
    assert check_pairs([slip_chosen], truths)["step (value_gap)"].wrong_chosen == 1


def test_single_scores_give_no_value_gap_pairs_unless_asked():
    tree = known_tree()
    reasons = {r["reason"] for r in pair_records(tree, WHEN_FOUND)}
    assert reasons == {"verified"}
    for node, successes in ((1, 4), (2, 0), (4, 1)):  # Monte Carlo counts: an interval to separate
        tree.nodes[node].successes, tree.nodes[node].rollouts = successes, 4
    gaps = [r for r in pair_records(tree, WHEN_FOUND, source="mc") if r["reason"] == "value_gap"]
    # 4/4 against 0/4 is separated, 4/4 against 1/4 is not; the slip (0, a point) is separated from 4/4
    assert {(r["chosen_node"], r["rejected_node"]) for r in gaps} == {(1, 2), (1, 3)}
    assert gaps[0]["chosen_interval"][0] > gaps[0]["rejected_interval"][1]


def test_monte_carlo_error_by_rollouts():
    tree = known_tree()
    for node, successes in ((1, 3), (2, 1), (4, 0)):
        tree.nodes[node].successes, tree.nodes[node].rollouts = successes, 4
    truths = Truths()
    truths.add(tree, WHEN_FOUND)
    # 2 + 3 (good): 3/4, 2 * 3 (bad): 1/4, 2 + 5 (good): 0/4
    assert mc_rows(truths) == [["4", "3", "2", "0.375", "0.250", "0.500"]]


def test_pairs_from_an_unsolvable_problem_are_off_by_default():
    tree = known_tree(target=100)  # 2, 3, 5 cannot make 100
    tree.nodes[7].correct = False
    assert list(pair_records(tree, WHEN_FOUND, PairOptions(single_scores=True))) == []
    records = list(pair_records(tree, WHEN_FOUND, PairOptions(single_scores=True, unsolvable=True)))
    assert records and all(r["solvable"] is False for r in records)
    truths = Truths()
    truths.add(tree, WHEN_FOUND)
    assert check_pairs(records, truths)["step (value_gap)"].unsolvable == len(records)


@pytest.fixture(scope="module")
def sloppy_run(tmp_path_factory) -> str:
    """Wrong results taken at face value, often, and a noisy PRM: what made pairs choose wrong steps."""
    out = str(tmp_path_factory.mktemp("truth") / "run")
    flags = ["--num-problems", "30", "--notice", "when-found", "--mistake-rate", "0.3", "--noise-std", "0.3"]
    assert main(["synth", "--out", out, "--no-progress", *flags, "--flip-prob", "0.2"]) == 0
    return out


@pytest.mark.parametrize("options", [PairOptions(), PairOptions(single_scores=True, unsolvable=True)])
def test_pairs_never_choose_a_wrong_step(sloppy_run, options):
    directory = RunDir(sloppy_run)
    domain = directory.domain()
    chosen = 0
    for tree in directory.iter_trees():
        problem = domain.problem_from_dict(tree.problem)
        for record in pair_records(tree, domain, options):
            assert domain.first_mistake(problem, tree.steps_to(record["chosen_node"])) is None
            chosen += 1
    assert chosen > 100


def test_cards_carry_the_check(sloppy_run):
    folder, _ = export_pairs(sloppy_run)
    card = (folder / "README.md").read_text()
    assert "## Checked against the truth" in card and "| prm | step (verified) |" in card
    assert "| prm | step (value_gap) |" not in card
    folder, _ = export_prm_labels(sloppy_run, LabelRule("subtree", 0.5))
    assert "| subtree | 0.5 | all |" in (folder / "README.md").read_text()


def test_math_says_it_cannot_decide():
    tree = SearchTree.with_root("m", {"id": "m", "question": "1 + 1?", "answer": "2", "meta": {}}, {"step": 0})
    tree.add_child(tree.root, "It is \\boxed{2}.", state={"answer": "2"}, terminal=True, correct=True)
    truths = Truths()
    truths.add(tree, MathDomain())
    assert not truths.decided
    assert "math domain cannot decide" in pair_section([], truths, MathDomain(), "prm")


def test_the_labels_command_prints_every_source(sloppy_run, capsys):
    assert main(["labels", sloppy_run, "--threshold", "0.3", "0.7"]) == 0
    out = capsys.readouterr().out
    for row in ("| prm | 0.3 | all |", "| subtree | 0.7 | all |", "| prm | trajectory (verified) |"):
        assert row in out
    assert "| mc |" not in out  # the oracle PRM rolls out nothing
    assert main(["labels", sloppy_run, "--threshold", "0"]) == 2
    assert "--threshold: expected a number in (0, 1], got 0" in capsys.readouterr().err
