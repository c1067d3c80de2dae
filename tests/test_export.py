"""Exports: PRM step labels in TRL's stepwise layout; traces as Parquet and HF datasets."""

from __future__ import annotations

import orjson
import pytest

from metacot.config import SynthConfig
from metacot.outputs.export import export_dataset, export_prm_labels
from metacot.outputs.rundir import RunDirError
from metacot.problems.countdown import apply_step
from metacot.synth import synth


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    config = SynthConfig(out=str(tmp_path_factory.mktemp("export") / "run"))
    config.problems.num_problems = 15
    config.linearize.formats = ["metacot", "cot"]
    synth(config, progress=False)
    return config.out


def test_prm_labels_follow_scores_and_verdicts(run):
    path, count = export_prm_labels(run, threshold=0.5)
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert count == len(records) > 15
    saw_error = saw_solution = False
    for record in records:
        assert set(record) == {"problem_id", "prompt", "completions", "labels", "scores"}
        assert len(record["completions"]) == len(record["labels"]) == len(record["scores"]) >= 1
        numbers = tuple(int(n) for n in record["prompt"].split("[")[1].split("]")[0].split(", "))
        state = numbers
        for step, label, score in zip(record["completions"], record["labels"], record["scores"], strict=True):
            try:
                state = apply_step(state, step)
            except ValueError:
                assert label is False
                saw_error = True
                break
            if len(state) == 1:
                target = int(record["prompt"].split("equals ")[1].split(".")[0])
                assert label is (state[0] == target)
                saw_solution |= label
            else:
                assert label is (score >= 0.5)
    assert saw_error and saw_solution


def test_traces_export_to_parquet_and_hf(run):
    datasets = pytest.importorskip("datasets")
    parquet = export_dataset(run, "cot", "parquet")
    table = datasets.Dataset.from_parquet(str(parquet))
    jsonl = [orjson.loads(line) for line in (parquet.parent.parent / "traces" / "cot.jsonl").read_bytes().splitlines()]
    assert table["completion"] == [r["completion"] for r in jsonl]
    saved = export_dataset(run, "metacot", "hf")
    assert datasets.load_from_disk(str(saved))[0]["messages"][1]["role"] == "assistant"
    with pytest.raises(RunDirError, match="traces/sos.jsonl"):
        export_dataset(run, "sos", "parquet")


def test_export_command(run, capsys):
    from metacot.cli import main

    assert main(["export", run, "--prm-labels", "--threshold", "0.9"]) == 0
    assert "step-labelled paths" in capsys.readouterr().out
    assert main(["export", run]) == 2
    assert "--prm-labels" in capsys.readouterr().err
