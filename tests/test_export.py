"""Exports: PRM step labels in TRL's stepwise layout; traces as Parquet and HF datasets."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from export_runs import written

from metacot.config import SynthConfig
from metacot.outputs.export import export_dataset, export_objective, export_prm_labels
from metacot.outputs.labels import LabelRule
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
    folder, export = export_prm_labels(run, LabelRule(threshold=0.5))
    records = [orjson.loads(line) for line in (folder / "data.jsonl").read_bytes().splitlines()]
    assert len(records) == export.written > 15
    saw_error = saw_solution = False
    for record in records:
        assert set(record) == {
            *("problem_id", "nodes", "label_source", "prompt", "completions", "labels", "soft_labels"),
            *("intervals", "first_error_step"),
        }
        assert len(record["completions"]) == len(record["labels"]) == len(record["soft_labels"]) >= 1
        numbers = tuple(int(n) for n in record["prompt"].split("[")[1].split("]")[0].split(", "))
        state = numbers
        for step, label, score in zip(record["completions"], record["labels"], record["soft_labels"], strict=True):
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
    assert "messages" not in datasets.load_from_disk(str(saved)).column_names  # one layout: prompt-completion
    with pytest.raises(RunDirError, match="traces/sos.jsonl"):
        export_dataset(run, "sos", "parquet")


def test_export_command(run, capsys):
    from metacot.cli import main

    assert main(["export", run, "--prm-labels", "--threshold", "0.9"]) == 0
    assert "exports/prm-labels-prm-t0.9-stepwise: " in capsys.readouterr().out
    assert main(["export", run]) == 2
    assert "--prm-labels" in capsys.readouterr().err


def test_export_folder_has_a_dataset_card_and_loads_back(run, capsys):
    datasets = pytest.importorskip("datasets")
    from metacot.cli import main

    assert main(["export", run, "--objective", "on_path", "--to", "hf", "--license", "cc-by-4.0"]) == 0
    out = capsys.readouterr().out
    folder = out.split(":")[0]
    assert folder.endswith("exports/on_path-metacot-hf")
    saved = datasets.load_from_disk(folder)
    card = (Path(folder) / "README.md").read_text()
    jsonl_folder, _ = export_objective(run, "on_path")  # the same records, now as JSONL beside them
    jsonl = written(jsonl_folder)
    assert saved["completion"] == [r["completion"] for r in jsonl]
    assert card.startswith("---\nlicense: cc-by-4.0\n")
    assert f"- records: {len(jsonl)}\n" in card
    segments = [s for r in jsonl for s in r["segments"]]
    assert f"- segments with loss: {sum(s['loss'] for s in segments)}\n" in card
    assert "on_path: loss on the segments on the root-to-solution path" in card  # the objectives' documentation
    assert '"strategy": "mcts"' in card and "load_from_disk" in card
    jsonl_card = (jsonl_folder / "README.md").read_text()
    assert "data_files: data.jsonl" in jsonl_card and 'load_dataset("json"' in jsonl_card


def test_push_to_hub_is_one_dataset_push_and_the_card(run, monkeypatch, capsys):
    datasets = pytest.importorskip("datasets")
    import huggingface_hub

    from metacot.cli import main

    calls = []
    monkeypatch.setattr(datasets.Dataset, "push_to_hub", lambda self, repo: calls.append(("data", repo, len(self))))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_file", lambda self, **kw: calls.append(("card", kw)))
    assert main(["export", run, "--pairs", "--push-to-hub", "me/pairs"]) == 0
    count = int(capsys.readouterr().out.split(": ")[1].split(" ")[0])
    assert calls[0] == ("data", "me/pairs", count)
    assert calls[1][1]["repo_id"] == "me/pairs" and calls[1][1]["path_in_repo"] == "README.md"


def test_a_license_that_is_no_identifier_is_refused_before_anything_is_written(run, capsys):
    from metacot.cli import main

    exports = Path(run) / "exports"
    before = sorted(exports.rglob("*")) if exports.exists() else []
    assert main(["export", run, "--objective", "on_path", "--license", "mit\nconfigs: evil"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metacot: error: --license: expected a license identifier") and err.count("\n") == 1
    assert (sorted(exports.rglob("*")) if exports.exists() else []) == before


def test_parquet_of_a_trace_file_cut_mid_line_is_one_line_naming_it(run, tmp_path, capsys):
    pytest.importorskip("datasets")
    from metacot.cli import main

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    with (copy / "traces" / "metacot.jsonl").open("ab") as traces:
        traces.write(b'{"problem_id": "x", "compl')
    assert main(["export", str(copy), "--parquet", "metacot", "--no-progress"]) == 2
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("metacot:")]
    assert len(ours) == 1 and "Traceback" not in ours[0]  # after what the datasets library itself prints
    assert ours[0].startswith(f"metacot: error: {copy}/traces/metacot.jsonl: its last line is unterminated")
    assert not (copy / "exports" / "metacot.parquet").exists()
