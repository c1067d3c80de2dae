"""scripts/tiny_model.py, the docs' way to try the LLM backends: it builds a local model that synth can search with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from metacot.cli import main

pytest.importorskip("torch")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "tiny_model.py"


def test_the_tiny_model_script_builds_a_policy_and_prm_that_synth_runs(tmp_path):
    model = tmp_path / "tiny"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(model), "--train-steps", "2"], capture_output=True, text=True, check=True
    )
    assert f"--policy-model {model}" in done.stdout
    out = tmp_path / "run"
    backends = ["--policy", "transformers", "--policy-model", str(model), "--prm", "transformers", "--prm-model"]
    code = main(["synth", *backends, str(model), "--simulations", "2", "--num-problems", "2", "--out", str(out)])
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["problems"] == 2 and stats["compute"]["policy_calls"] >= 2


def test_the_token_classifier_is_a_separator_head_prm(tmp_path):
    model = tmp_path / "head"
    subprocess.run([sys.executable, str(SCRIPT), str(model), "--token-classifier"], check=True, capture_output=True)
    config = json.loads((model / "config.json").read_text())
    assert config["architectures"] == ["LlamaForTokenClassification"]
