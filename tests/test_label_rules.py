"""Consensus labels, hard labels only where the interval is decisive, first_error_step, and OmegaPRM's binary
search, on hand-built Countdown trees whose truth is known."""

from __future__ import annotations

import pytest
from export_runs import countdown_run, written

from metacot.cli import main
from metacot.outputs.export import export_omega_labels, export_prm_labels
from metacot.outputs.labels import LabelRule, Tally, label_records
from metacot.outputs.omega import BINARY, EVERY, ON_ITS_OWN, Estimator, Labelling, label_tree
from metacot.outputs.rundir import RunDir
from metacot.outputs.truth import Truths, check_labels
from metacot.prm.config import RolloutConfig
from metacot.prm.rollout import RolloutPRM
from metacot.problems import CountdownDomain
from metacot.problems.countdown import apply_step, format_move, legal_moves
from metacot.tree import SearchTree

DOMAIN = CountdownDomain()
PROBLEM = {"id": "p", "numbers": [1, 2, 3, 4], "target": 10}


def counted_tree() -> SearchTree:
    """1, 2, 3, 4 -> 10 with Monte Carlo counts (successes, rollouts) on its live steps:
    a 1 + 2 = 3 (4/4, truly good) -> b 3 + 3 = 6 (2/4, good) -> c 4 + 6 = 10 (solved) | d 4 * 6 = 24 (wrong);
    a -> e 3 * 4 = 12 (0/4, truly bad) -> f 12 - 3 = 9 (wrong); g 4 - 3 = 1 (0/4, bad) -> h 1 + 1 = 2 (0/4) ->
    i 2 * 2 = 4 (wrong)."""
    tree = SearchTree.with_root("p", PROBLEM, (1, 2, 3, 4))
    a = tree.add_child(tree.root, "1 + 2 = 3", state=(3, 3, 4), successes=4, rollouts=4)
    b = tree.add_child(a, "3 + 3 = 6", state=(4, 6), successes=2, rollouts=4)
    tree.add_child(b, "4 + 6 = 10", state=(10,), terminal=True, correct=True)
    tree.add_child(b, "4 * 6 = 24", state=(24,), terminal=True, correct=False)
    e = tree.add_child(a, "3 * 4 = 12", state=(3, 12), successes=0, rollouts=4)
    tree.add_child(e, "12 - 3 = 9", state=(9,), terminal=True, correct=False)
    g = tree.add_child(tree.root, "4 - 3 = 1", state=(1, 2, 1), successes=0, rollouts=4)
    h = tree.add_child(g, "1 + 1 = 2", state=(2, 2), successes=0, rollouts=4)
    tree.add_child(h, "2 * 2 = 4", state=(4,), terminal=True, correct=False)
    return tree


def labelled(rule: LabelRule) -> tuple[dict[int, dict], Tally]:
    """The records by their last node id, and the steps kept and dropped."""
    tally = Tally()
    records = list(label_records(counted_tree(), DOMAIN, rule, tally=tally))
    return {r["nodes"][-1]: r for r in records}, tally


def test_threshold_labels_carry_intervals_and_the_first_error():
    records, tally = labelled(LabelRule("mc", 0.5))
    assert sorted(records) == [3, 4, 6, 9]
    assert records[3]["labels"] == [True, True, True] and records[3]["first_error_step"] == -1
    assert records[6]["labels"] == [True, False, False] and records[6]["first_error_step"] == 1
    assert records[9]["first_error_step"] == 0
    low, high = records[3]["intervals"][1]  # 2 of 4: Wilson
    assert 0.15 < low < 0.16 and 0.84 < high < 0.86
    assert records[3]["intervals"][2] == [1.0, 1.0]  # the verifier's 1: a point
    assert tally.counts() == {"steps labelled": 9, "steps dropped": 0}


def test_a_hard_label_only_where_the_interval_is_decisive():
    """At 0.5, 4/4 is decisive (its interval lies above), 0/4 too (below), 2/4 not: a path's record ends before
    b, so the two paths through it give one record, [a]."""
    records, tally = labelled(LabelRule("mc", 0.5, decisive=True))
    assert sorted(records) == [1, 6, 9]
    assert records[1]["nodes"] == [1] and records[1]["labels"] == [True]
    assert records[6]["labels"] == [True, False, False]
    assert tally.counts() == {"steps labelled": 6, "steps dropped": 3}  # b, c, d
    # a single PRM score has no interval: no hard label; the verifier's values are points
    assert labelled(LabelRule("prm", 0.5, decisive=True))[0] == {}


def test_consensus_keeps_the_steps_two_sources_agree_on():
    """subtree: a has 1 solution of 3 finished paths below (0.33, bad at 0.5), mc says good: they disagree on the
    first step, so every path through a is dropped; on g and h both say bad (0/1 below, 0/4)."""
    records, tally = labelled(LabelRule("consensus", 0.5, pair=("mc", "subtree")))
    assert sorted(records) == [9] and records[9]["label_source"] == "consensus(mc,subtree)"
    assert records[9]["labels"] == [False, False, False] and records[9]["soft_labels"][0] == 0.0
    assert tally.counts() == {"steps labelled": 3, "steps dropped": 6}
    records, tally = labelled(LabelRule("consensus", 0.3, pair=("mc", "subtree")))  # now they agree on a and b
    assert sorted(records) == [3, 4, 6, 9] and tally.counts()["steps dropped"] == 0
    truths = Truths()
    truths.add(counted_tree(), DOMAIN)
    check = check_labels(records.values(), truths, tally.dropped)
    assert check.total().cells()[:2] == ["9", "0.000"]


def test_the_report_counts_dropped_steps_and_recall_with_them_missed():
    records, tally = labelled(LabelRule("mc", 0.5, decisive=True))
    truths = Truths()
    truths.add(counted_tree(), DOMAIN)
    total = check_labels(records.values(), truths, tally.dropped).total()
    # labelled a (good), e f g h i (bad); dropped b c (truly good) and d; recall 1 of 1 labelled, 1 of 3 in all
    assert total.cells() == ["6", "0.333", "1", "1.000", "1.000", "0.333", "1.000", "1.000"]


def test_a_bad_consensus_pair_is_named():
    with pytest.raises(ValueError, match="--consensus"):
        LabelRule("consensus", pair=("mc", "mc"))
    with pytest.raises(ValueError, match="--label-source"):
        LabelRule("judge")


class SolvingPolicy:
    """Completes every state that can still reach the target with a solution (the exact oracle), any other with
    legal steps that cannot: Monte Carlo values are exactly the truth. Counts the completions asked for."""

    def __init__(self) -> None:
        self.completions = 0

    def rollout(self, requests):
        self.completions += sum(r.n for r in requests)
        return [[self._finish(r.problem, r.node.state)] * r.n for r in requests]

    def _finish(self, problem, state) -> list[str]:
        steps = []
        while len(state) > 1:
            moves = [format_move(m) for m in legal_moves(state)]
            step = next((m for m in moves if DOMAIN.reachable(problem, apply_step(state, m))), moves[0])
            state = apply_step(state, step)
            steps.append(step)
        return steps


def search_tree() -> SearchTree:
    """counted_tree's steps without counts, and two unexpanded steps: j 1 * 2 = 2 (truly good), k 2 * 4 = 8
    (good)."""
    tree = counted_tree()
    for node in tree.nodes:
        node.successes = node.rollouts = None
    tree.add_child(tree.root, "1 * 2 = 2", state=(2, 3, 4))
    tree.add_child(tree.root, "2 * 4 = 8", state=(1, 3, 8))
    return tree


def labels_by(method: str) -> tuple[Labelling, SolvingPolicy]:
    policy = SolvingPolicy()
    labelling = Labelling(method)
    prm = RolloutPRM(RolloutConfig(rollouts=4, reuse=False), DOMAIN, policy)
    labelling.records = label_tree(search_tree(), DOMAIN, Estimator(prm, 0), labelling)
    return labelling, policy


@pytest.mark.parametrize("method", [BINARY, EVERY, ON_ITS_OWN])
def test_every_method_finds_the_first_wrong_step(method):
    labelling, _ = labels_by(method)
    truths = Truths()
    truths.add(search_tree(), DOMAIN)
    truth = truths.trees["p"]
    for record in labelling.records:
        assert record["labels"] == [truth.good[n] for n in record["nodes"]]
        first = next((i for i, n in enumerate(record["nodes"]) if not truth.good[n]), -1)
        assert record["first_error_step"] == first
    assert labelling.labelled == 11


def test_binary_search_rolls_out_from_fewer_steps():
    """Every step: a, b, e, g, h, j, k (7 x 4 completions). Binary search: c's solution proves a and b; on a-e-f
    only e is left between a and the wrong answer f; g-h-i asks h, then g; j and k: themselves (5 x 4)."""
    binary, policy = labels_by(BINARY)
    every, every_policy = labels_by(EVERY)
    assert (every.rollouts, every_policy.completions, every.estimated) == (28, 28, 7)
    assert (binary.rollouts, policy.completions, binary.estimated) == (20, 20, 5)


def test_labels_command_compares_the_methods(tmp_path, capsys):
    run = countdown_run(tmp_path / "run", problems=3)
    assert main(["labels", run, "--omega", "4"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 4 |")]
    assert [row.split(" | ")[1] for row in rows] == [BINARY, EVERY, ON_ITS_OWN]
    assert "| consensus(prm,subtree) | 0.5 | all |" in out


def test_consensus_export_names_its_sources_and_counts_drops(tmp_path):
    run = countdown_run(tmp_path / "run", problems=3)
    folder, export = export_prm_labels(run, LabelRule("consensus", 0.5, decisive=False, pair=("prm", "subtree")))
    assert folder.name == "prm-labels-consensus-prm-subtree-t0.5-stepwise"
    assert export.counts["steps dropped"] > 0 and export.counts["steps labelled"] > 0
    card = (folder / "README.md").read_text()
    assert "steps dropped" in card and "consensus(prm,subtree)" in card


def test_omega_export_labels_good_only_what_a_completion_proves(tmp_path):
    run = countdown_run(tmp_path / "run", problems=3)
    folder, export = export_omega_labels(run, rollouts=4)
    assert folder.name == "prm-labels-omega-r4-stepwise"
    assert export.counts["completions generated"] > 0 and export.counts["steps labelled"] > 0
    truths = Truths()
    for tree in RunDir(run).iter_trees():
        truths.add(tree, DOMAIN)
    for record in written(folder):
        truth = truths.trees[record["problem_id"]]
        assert all(truth.good[n] for n, good in zip(record["nodes"], record["labels"], strict=True) if good)
        assert record["labels"] == [
            i < record["first_error_step"] or record["first_error_step"] < 0 for i in range(len(record["nodes"]))
        ]
    assert "| mc (binary search) | > 0 | all |" in (folder / "README.md").read_text()


def test_the_math_shepherd_layout_carries_the_hard_labels_as_a_list():
    tree = counted_tree()
    (record,) = [r for r in label_records(tree, DOMAIN, LabelRule("mc"), "math-shepherd") if r["nodes"][-1] == 6]
    assert record["step_labels"] == [True, False, False] and "labels" not in record
    assert [line[-1] for line in record["label"].split("\n")] == ["+", "-", "-"]
    truths = Truths()
    truths.add(tree, DOMAIN)
    assert check_labels([record], truths).total().cells()[:3] == ["3", "0.000", "1"]
