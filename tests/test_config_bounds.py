"""Every numeric setting is checked when the config is built, before a run directory is touched; errors name the key."""

from __future__ import annotations

import math
import re

import pytest

from metacot.cli import main
from metacot.config import ConfigError, SynthConfig, from_dict


def nested(key: str, value: object) -> dict:
    """{"a": {"b": value}} for "a.b"."""
    *parents, name = key.split(".")
    data: dict = {name: value}
    for part in reversed(parents):
        data = {part: data}
    return data


BAD = [
    ("seed", 2**64),
    ("seed", -1),
    ("concurrency", 0),
    ("search.mcts.c_puct", math.nan),
    ("search.mcts.c_puct", -1.0),
    ("search.mcts.c_uct", math.nan),
    ("search.astar.step_cost", math.inf),
    ("prm.oracle.flip_prob", 2.0),
    ("prm.oracle.flip_prob", math.inf),
    ("prm.oracle.flip_prob", math.nan),
    ("prm.oracle.gaussian_std", -0.1),
    ("prm.oracle.gaussian_std", math.inf),
    ("policy.symbolic.mistake_rate", -0.1),
    ("policy.symbolic.mistake_rate", 1.5),
    ("problems.limit", 0),
    ("problems.limit", -1),
    ("problems.num_problems", 0),
    ("problems.countdown.num_numbers", 0),
    ("problems.countdown.high", 10**7),
    ("problems.countdown.target", -3),
    ("problems.math.max_depth", 0),
    ("problems.math.solve_rate", [0.9, 0.1]),
    ("problems.math.levels", []),
    ("problems.math.levels", [4]),
    ("problems.math.levels", [0, 1]),
    ("linearize.formats", []),
    ("linearize.formats", ["", ""]),
    ("linearize.max_backtracks", -1),
    ("prm.rollout.rollouts", 0),
    ("prm.rollout.mode", "median"),
    ("policy.openai.temperature", 0.0),
    ("policy.openai.temperature", math.nan),
    ("policy.transformers.top_p", 0.0),
    ("policy.vllm.top_p", 1.5),
    ("policy.vllm.max_tokens", 0),
    ("policy.transformers.batch_size", 0),
    ("policy.vllm.gpu_memory_utilization", 0.0),
    ("policy.vllm.max_model_len", 0),
    ("policy.openai.timeout", 0.0),
    ("policy.openai.max_retries", -1),
    ("policy.openai.backoff", math.nan),
    ("policy.openai.concurrency", 0),
    ("prm.http.timeout", -1.0),
    ("prm.transformers.batch_size", 0),
    ("prm.vllm.gpu_memory_utilization", 1.5),
]


@pytest.mark.parametrize(("key", "value"), BAD, ids=[f"{k}={v!r}" for k, v in BAD])
def test_an_out_of_range_setting_is_refused_naming_its_key(key, value):
    with pytest.raises(ConfigError, match="^" + re.escape(f"config.{key}: ")):
        from_dict(SynthConfig, nested(key, value), "config")


def test_the_defaults_and_the_edges_of_each_range_are_accepted():
    for key, value in [("seed", 2**63 - 1), ("prm.oracle.flip_prob", 1), ("policy.symbolic.mistake_rate", 0.0)]:
        from_dict(SynthConfig, nested(key, value), "config")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("low", r"problems\.countdown\.low: 100 > high 11"),
        ("target_low", r"problems\.countdown\.target_low: 100 > target_high 11"),
    ],
)
def test_an_empty_generator_range_names_both_keys(key, message):
    high = "high" if key == "low" else "target_high"
    with pytest.raises(ConfigError, match=message):
        from_dict(SynthConfig, {"problems": {"countdown": {key: 100, high: 11}}}, "config")


@pytest.mark.parametrize(
    "flags",
    [
        ["--formats", ",,,"],
        ["--limit", "-1"],
        ["--seed", str(2**64)],
        ["--set", "search.mcts.c_puct=nan"],
        ["--flip-prob", "2"],
        ["--set", "problems.math.levels=[5]"],
        ["--set", "prm.rollout.mode=median"],
        ["--set", "problems.countdown.low=100", "--set", "problems.countdown.high=11"],
    ],
)
def test_a_bad_flag_stops_the_run_before_its_directory_is_made(tmp_path, capsys, flags):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--no-progress", "--num-problems", "2", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not out.exists()
