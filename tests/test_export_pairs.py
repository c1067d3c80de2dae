"""Preference pairs: chosen beats rejected by the margin in the tree, siblings share the prompt, trajectories are
answers in the prompt's tags, and TRL's DPOTrainer trains on them for 2 steps."""

from __future__ import annotations

import re

import pytest
from export_runs import countdown_run, tiny_lm, trainer_args, trees, written

from metacot.outputs.export import Destination, export_pairs
from metacot.outputs.pairs import PairOptions
from metacot.outputs.rundir import RunDir
from metacot.outputs.treestats import SubtreeStats, path_value

ANSWERED = re.compile(r"<think>\n(.*)\n</think>\n<answer> (.*) </answer>", re.S)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    return countdown_run(tmp_path_factory.mktemp("pairs") / "run", problems=4)


@pytest.mark.parametrize("margin", [0.3, 0.9])
def test_chosen_beats_rejected_by_the_margin(run, margin):
    by_id, domain = trees(run), RunDir(run).domain()
    folder, _ = export_pairs(run, PairOptions(margin, single_scores=True))
    assert folder.name == f"pairs-prm-m{margin:g}-single-scores"
    records = written(folder)
    kinds = {(r["kind"], r["reason"]) for r in records}
    assert {("step", "verified"), ("trajectory", "verified")} <= kinds
    for record in records:
        tree = by_id[record["problem_id"]]
        stats = SubtreeStats.of(tree)
        chosen, rejected = tree.nodes[record["chosen_node"]], tree.nodes[record["rejected_node"]]
        assert record["chosen_value"] - record["rejected_value"] >= margin
        prompt = domain.prompt(domain.problem_from_dict(tree.problem))
        if record["kind"] == "trajectory":
            assert chosen.correct and rejected.terminal and rejected.error is None and record["prompt"] == prompt
            problem = domain.problem_from_dict(tree.problem)
            for node, right in ((chosen, True), (rejected, False)):
                text = record["chosen" if right else "rejected"]
                match = ANSWERED.fullmatch(text)
                assert match is not None
                think, answer = match.groups()
                assert think.split("\n") == tree.steps_to(node.id) and domain.check_answer(problem, answer) is right
            continue
        assert chosen.parent == rejected.parent
        prefix = "".join(f"{step}\n" for step in tree.steps_to(chosen.parent))
        assert record["prompt"] == f"{prompt}\n{prefix}"
        assert (record["chosen"], record["rejected"]) == (chosen.step, rejected.step)
        if record["reason"] == "verified":
            assert stats.correct[chosen.id] > 0 and stats.dead_end[rejected.id]
        else:
            values = (path_value(tree, chosen, "prm", stats), path_value(tree, rejected, "prm", stats))
            assert values == (record["chosen_value"], record["rejected_value"])
            assert record["value_source"] == "prm" and record["solvable"] is True


def test_dpo_trainer_trains_on_the_pairs(run, tmp_path):
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from tiny_models import single_thread
    from transformers import AutoTokenizer

    folder, _ = export_pairs(run, dest=Destination(to="hf"))
    dataset = datasets.load_from_disk(str(folder))
    lm = tiny_lm(tmp_path / "lm")
    with single_thread():
        trainer = trl.DPOTrainer(
            model=lm,
            args=trl.DPOConfig(**trainer_args(tmp_path / "out")),
            train_dataset=dataset.select(range(8)),
            processing_class=AutoTokenizer.from_pretrained(lm),
        )
        result = trainer.train()
    assert trainer.state.global_step == 2 and result.training_loss > 0
