"""PRM label exports: MC labels are the rollout PRM's successes / rollouts, subtree labels the verified-success
rate below each step, both layouts; the stepwise layout trains a token classifier for 2 steps."""

from __future__ import annotations

import pytest
from export_runs import countdown_run, trainer_args, trees, written

from metacot.outputs.export import Destination, export_prm_labels
from metacot.outputs.labels import STEP_TAG, LabelRule
from metacot.outputs.rundir import RunDirError


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    """A run scored by the rollout PRM (4 rollouts a step), so that nodes carry Monte Carlo counts."""
    return countdown_run(tmp_path_factory.mktemp("labels") / "run", problems=4, prm="rollout", search="astar")


def test_mc_labels_are_successes_over_rollouts(run):
    by_id = trees(run)
    folder, _ = export_prm_labels(run, LabelRule("mc", 0.5))
    records = written(folder)
    counted = 0
    for record in records:
        tree = by_id[record["problem_id"]]
        path = [tree.nodes[i] for i in record["nodes"]]
        assert record["completions"] == [n.step for n in path]
        assert tree.path_to(path[-1].id)[1:] == record["nodes"]
        slip = tree.first_slip(path[-1].id)
        for node, soft, hard in zip(path, record["soft_labels"], record["labels"], strict=True):
            if slip is not None and node.depth >= tree.nodes[slip].depth:
                assert soft == 0.0
            elif node.rollouts:
                assert soft == node.successes / node.rollouts
                counted += 1
            else:
                assert soft == (1.0 if node.correct else 0.0) and (node.terminal or node.error is not None)
            assert hard is (soft >= 0.5)
    assert counted > 20 and any(0 < s < 1 for r in records for s in r["soft_labels"])


def test_subtree_labels_are_verified_success_rates(run):
    by_id = trees(run)
    folder, _ = export_prm_labels(run, LabelRule("subtree", 0.3))
    records = written(folder)
    assert records
    for record in records:
        tree = by_id[record["problem_id"]]
        for node_id, soft in zip(record["nodes"], record["soft_labels"], strict=True):
            below = [n for n in tree.nodes if node_id in tree.path_to(n.id)]
            finished = [n for n in below if n.terminal or n.error is not None]
            if tree.first_slip(record["nodes"][-1]) is None:
                assert soft == sum(bool(n.correct) for n in finished) / len(finished)


def test_math_shepherd_layout(run):
    stepwise, _ = export_prm_labels(run, LabelRule("mc"), dest=Destination(overwrite=True))  # as the first test did
    folder, _ = export_prm_labels(run, LabelRule("mc"), layout="math-shepherd")
    assert folder.name == "prm-labels-mc-t0.5-math-shepherd"
    for a, b in zip(written(stepwise), written(folder), strict=True):
        assert b["input"].startswith(a["prompt"]) and b["input"].count(STEP_TAG) == len(a["completions"])
        marks = [line[-1] for line in b["label"].split("\n")]
        assert marks == ["+" if good else "-" for good in a["labels"]]
        assert b["input"].replace(STEP_TAG, "").split("\n")[-1].strip().endswith(a["completions"][-1].strip())


def test_mc_labels_need_rollout_counts(tmp_path):
    run = countdown_run(tmp_path / "oracle", problems=1)
    with pytest.raises(RunDirError, match="rollout PRM"):
        export_prm_labels(run, LabelRule("mc"))
    with pytest.raises(ValueError, match="--threshold"):
        export_prm_labels(run, LabelRule("prm", threshold=0))


def test_stepwise_layout_trains_a_token_classifier(run, tmp_path):
    """TRL 1.16 has no PRM trainer: the layout loads with `datasets`, is tokenized the way TRL's former PRMTrainer
    did (a separator token after each step carries its label, -100 elsewhere) and feeds transformers' Trainer."""
    datasets = pytest.importorskip("datasets")
    transformers = pytest.importorskip("transformers")
    from tiny_models import SEPARATOR, build_token_classifier, single_thread

    folder, _ = export_prm_labels(run, LabelRule("mc"), dest=Destination(to="hf"))
    dataset = datasets.load_from_disk(str(folder)).rename_column("labels", "step_labels")  # map keeps a column's type
    model_dir = build_token_classifier(tmp_path / "head")
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    separator = tokenizer.convert_tokens_to_ids(SEPARATOR)

    def tokenize(row: dict) -> dict:
        ids = tokenizer(row["prompt"] + "\n", add_special_tokens=False)["input_ids"]
        labels = [-100] * len(ids)
        for step, good in zip(row["completions"], row["step_labels"], strict=True):
            step_ids = tokenizer(step, add_special_tokens=False)["input_ids"]
            ids += [*step_ids, separator]
            labels += [-100] * len(step_ids) + [int(good)]
        return {"input_ids": ids, "labels": labels}

    tokenized = dataset.map(tokenize, remove_columns=dataset.column_names)
    labelled = [sum(label != -100 for label in row["labels"]) for row in tokenized]
    assert labelled == [len(steps) for steps in dataset["completions"]]
    with single_thread():
        model = transformers.AutoModelForTokenClassification.from_pretrained(model_dir)
        before = model.score.weight.detach().clone()
        trainer = transformers.Trainer(
            model=model,
            args=transformers.TrainingArguments(**trainer_args(tmp_path / "out")),
            train_dataset=tokenized,
            data_collator=transformers.DataCollatorForTokenClassification(tokenizer),
        )
        result = trainer.train()
    assert trainer.state.global_step == 2 and result.training_loss > 0
    assert not model.score.weight.detach().equal(before)
