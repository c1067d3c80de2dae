"""`metacot train-prm` end to end on a tiny from-scratch model: synth, export --prm-labels, train a few steps, load the
folder through the transformers PRM backend; bad input named in one line; the held-out metrics."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from conftest import chain

pytest.importorskip("torch")
pytest.importorskip("transformers")

from metacot.cli import main  # noqa: E402
from metacot.learn.prmdata import Example, auroc, metrics  # noqa: E402
from metacot.prm.base import ScoreRequest  # noqa: E402
from metacot.prm.transformers import TransformersPRM, TransformersPRMConfig  # noqa: E402
from metacot.problems.countdown import CountdownDomain, CountdownProblem  # noqa: E402

os.environ["HF_HUB_OFFLINE"] = "1"
EXPORT = "exports/prm-labels-prm-t0.5-stepwise"
TINY = ["--set", "scratch.hidden_size=32", "--set", "scratch.num_layers=1", "--set", "scratch.intermediate_size=64"]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    run = str(tmp_path_factory.mktemp("train-prm") / "run")
    assert main(["synth", "--num-problems", "20", "--seed", "3", "--out", run, "--no-progress"]) == 0
    assert main(["export", run, "--prm-labels", "--no-progress"]) == 0
    return run


@pytest.fixture(scope="module")
def trained(run, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("prm") / "prm")
    argv = ["train-prm", f"{run}/{EXPORT}", "--out", out, "--steps", "3", "--batch-size", "4", "--no-progress", *TINY]
    assert main(argv) == 0
    return out


def test_the_trained_folder_loads_as_a_transformers_prm(trained):
    prm = TransformersPRM(TransformersPRMConfig(model=trained), CountdownDomain())
    problem = CountdownProblem("p", (8, 71, 2, 12), 61)
    tree, nodes = chain(problem, ["71 - 12 = 59", "59 + 2 = 61"])
    request = ScoreRequest(problem=problem, tree=tree, node=nodes[-1], seed=0)
    (steps,) = prm.step_scores([request])
    assert len(steps) == 2 and all(0 <= s <= 1 for s in steps)
    assert prm.score([request]) == [pytest.approx(steps[-1])]


def test_metrics_are_written_beside_the_model(trained):
    written = json.loads((Path(trained) / "metrics.json").read_text())
    heldout = written["heldout_metrics"]
    assert written["heldout_problems"] == 2 and heldout["paths"] > 0
    assert 0 <= heldout["first_error_accuracy"] <= 1 and 0 <= heldout["good"]["f1"] <= 1
    assert written["config"]["steps"] == 3 and written["config"]["scratch"]["hidden_size"] == 32
    assert math.isfinite(written["final_loss"])


def test_a_missing_export_is_named(tmp_path, capsys):
    assert main(["train-prm", str(tmp_path / "nothing"), "--out", str(tmp_path / "prm"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{tmp_path / 'nothing'}: no such file" in err


@pytest.mark.parametrize("model", ["nowhere", "empty"])
def test_a_model_folder_refused_leaves_no_out_folder(run, tmp_path, capsys, model):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "new" / "prm"
    argv = ["train-prm", f"{run}/{EXPORT}", "--model", str(tmp_path / model), "--out", str(out), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("metacot: error: --model: ") and str(tmp_path / model) in err
    assert not (tmp_path / "new").exists()


def test_the_math_shepherd_layout_is_refused_by_file_and_line(run, capsys):
    assert main(["export", run, "--prm-labels", "--layout", "math-shepherd", "--no-progress"]) == 0
    data = f"{run}/exports/prm-labels-prm-t0.5-math-shepherd/data.jsonl"
    assert main(["train-prm", data, "--out", f"{run}/prm", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{data}:1: the math-shepherd layout" in err


@pytest.mark.parametrize(
    ("record", "says"),
    [
        ({"problem_id": "p", "prompt": "q", "completions": ["a"]}, "no labels"),
        ({"problem_id": "p", "prompt": "q", "completions": ["a", "b"], "labels": [True]}, "2 completions for 1"),
        ({"problem_id": "p", "prompt": "q", "completions": ["a"], "labels": [1]}, "labels true or false"),
    ],
)
def test_a_record_off_the_stepwise_layout_is_named(tmp_path, capsys, record, says):
    good = {"problem_id": "p", "prompt": "q", "completions": ["a"], "labels": [True]}
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n")
    assert main(["train-prm", str(tmp_path), "--out", str(tmp_path / "prm"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{data}:2:" in err and says in err


def test_metrics_count_step_labels_and_first_errors():
    examples = [Example([], [True, False]), Example([], [True, True]), Example([], [False])]
    scores = [[0.9, 0.2], [0.8, 0.4], [0.7]]
    got = metrics(examples, scores, 0.5)
    assert got["steps"] == 5 and got["accuracy"] == pytest.approx(3 / 5)
    assert got["good"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    assert got["bad"] == pytest.approx({"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2})
    assert got["first_error_accuracy"] == pytest.approx(1 / 3)  # only the first path's first error is found
    assert got["good_auroc"] == pytest.approx(5 / 6)  # of 6 (good, bad) pairs only 0.7 (bad) over 0.4 (good) is wrong


def test_auroc_counts_ties_half_and_needs_both_labels():
    assert auroc([True, False], [0.5, 0.5]) == 0.5
    assert auroc([True, False, False], [0.9, 0.1, 0.9]) == 0.75
    assert auroc([True, True], [0.1, 0.2]) is None
