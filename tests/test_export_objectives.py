"""Objective exports: on-path segments true of the tree, pruned traces true traces, and TRL's SFTTrainer training
on the tokenized records with no loss on exactly the masked segments."""

from __future__ import annotations

import pytest
from export_runs import countdown_run, tiny_lm, trainer_args, trees, written

from metacot.linearize.audit import audit_record
from metacot.outputs.export import Destination, export_objective
from metacot.outputs.rundir import RunDir
from metacot.outputs.treestats import SubtreeStats


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    return countdown_run(tmp_path_factory.mktemp("objectives") / "run")


def records(run: str, objective: str, fmt: str = "metacot") -> list[dict]:
    folder, export = export_objective(run, objective, fmt, dest=Destination(overwrite=True))  # tests share the run
    on_disk = written(folder)
    assert len(on_disk) == export.written
    return on_disk


@pytest.mark.parametrize("fmt", ["metacot", "tokens"])
def test_on_path_segments_are_the_solution_path(run, fmt):
    by_id = trees(run)
    off_path = 0
    for record in records(run, "on_path", fmt):
        tree, segments = by_id[record["problem_id"]], record["segments"]
        assert "".join(s["text"] for s in segments) == record["completion"]
        assert segments[-1]["kind"] == "answer"
        path = tree.path_to(segments[-1]["node"])
        assert tree.nodes[path[-1]].correct
        steps = [s for s in segments if s["kind"] == "step"]
        assert [s["node"] for s in steps if s["on_path"]] == path[1:]  # each path step once, in order
        for s in segments:
            if s["kind"] in ("step", "backtrack"):
                assert s["on_path"] is (s["node"] in path)
                assert s["loss"] is s["on_path"]
                off_path += not s["on_path"]
    assert off_path > 10


def test_objectives_flag_loss_by_segment(run):
    full, trace_only = records(run, "full"), records(run, "trace_only")
    assert len(full) == len(trace_only) >= 4
    for a, b in zip(full, trace_only, strict=True):
        assert a["completion"] == b["completion"]
        assert all(s["loss"] for s in a["segments"])
        assert [s["loss"] for s in b["segments"]] == [s["kind"] != "answer" for s in b["segments"]]


def test_pruned_records_are_true_traces_without_dead_branches(run):
    by_id, domain = trees(run), RunDir(run).domain()
    pruned = [r for r in records(run, "pruned") if r["pruned"]]
    full = {r["problem_id"]: r for r in records(run, "pruned") if not r["pruned"]}
    assert len(pruned) >= 2
    for record in pruned:
        tree = by_id[record["problem_id"]]
        dead = SubtreeStats.of(tree).dead_subtrees(tree)
        nodes = [s["node"] for s in record["segments"] if s["kind"] in ("step", "backtrack")]
        assert not dead & set(nodes)
        assert len(record["completion"]) < len(full[record["problem_id"]]["completion"])
        assert record["answer"] == full[record["problem_id"]]["answer"]
        audit = audit_record(record, tree, domain)
        assert audit.claims > 0 and not audit.failures, audit.failures[:3]


@pytest.fixture(scope="module")
def lm(tmp_path_factory) -> str:
    return tiny_lm(tmp_path_factory.mktemp("tiny-sft"))


@pytest.mark.parametrize("objective", ["full", "trace_only", "on_path", "pruned"])
def test_sft_trainer_gives_no_loss_to_masked_tokens(run, lm, objective, tmp_path):
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from tiny_models import single_thread
    from transformers import AutoTokenizer

    folder, export = export_objective(run, objective, tokenizer=lm, dest=Destination(to="hf"))
    dataset = datasets.load_from_disk(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(lm)
    for row in dataset:  # the tokens with loss spell exactly the segments with loss (and the end of sequence)
        kept = [t for t, m in zip(row["input_ids"], row["completion_mask"], strict=True) if m]
        wanted = "".join(s["text"] for s in row["segments"] if s["loss"])
        wanted += tokenizer.eos_token if row["segments"][-1]["loss"] else ""
        assert tokenizer.decode(kept) == wanted
    with single_thread():
        trainer = trl.SFTTrainer(
            model=lm,
            args=trl.SFTConfig(**trainer_args(tmp_path), max_length=None),  # the default 1024 would cut records
            train_dataset=dataset,
            processing_class=tokenizer,
        )
        prepared = trainer.train_dataset
        for i in range(len(prepared)):  # SFTTrainer's labels: -100 exactly where the export's mask is 0
            assert [label != -100 for label in prepared[i]["labels"]] == [
                bool(m) for m in dataset[i]["completion_mask"]
            ]
        batch = trainer.data_collator([prepared[0], prepared[1]])
        for row, labels in zip((dataset[0], dataset[1]), batch["labels"], strict=True):
            kept = labels[: len(row["input_ids"])] != -100
            assert kept.tolist() == [bool(m) for m in row["completion_mask"]]
        result = trainer.train()
    assert trainer.state.global_step == 2 and result.training_loss > 0
    completion_masks = [row["completion_mask"][row["completion_mask"].index(1) :] for row in dataset]
    masked_inside = any(0 in mask for mask in completion_masks)  # a masked token after the first one with loss
    assert masked_inside is (objective in ("trace_only", "on_path"))
