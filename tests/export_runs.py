"""Saved Countdown runs and a tiny untrained causal LM for the export tests."""

from __future__ import annotations

from pathlib import Path

import orjson

from metacot.config import SynthConfig
from metacot.outputs.rundir import RunDir
from metacot.synth import synth
from metacot.tree import SearchTree


def countdown_run(out: Path, problems: int = 6, prm: str = "oracle", search: str = "mcts") -> str:
    """A real Countdown synth run (the symbolic policy, a sloppy one so that traces have dead branches)."""
    config = SynthConfig(out=str(out))
    config.problems.num_problems = problems
    config.policy.symbolic.mistake_rate = 0.3
    config.search.strategy = search
    config.search.mcts.simulations = 60
    config.prm.backend = prm
    config.prm.rollout.rollouts = 4
    config.linearize.formats = ["metacot", "tokens", "cot"]
    synth(config, progress=False)
    return config.out


def written(folder: Path) -> list[dict]:
    """The records a JSONL export wrote."""
    return [orjson.loads(line) for line in (folder / "data.jsonl").read_bytes().splitlines()]


def trees(run: str) -> dict[str, SearchTree]:
    return {tree.problem_id: tree for tree in RunDir(run).iter_trees()}


def tiny_lm(directory: Path) -> str:
    """An untrained tiny Llama and its tokenizer (tests/tiny_models.py): enough for a trainer to take steps."""
    from tiny_models import build_causal_lm

    return str(build_causal_lm(directory, train_steps=0))


def trainer_args(output_dir: Path) -> dict:
    """TrainingArguments for 2 steps on the CPU that write nothing but the output folder."""
    return dict(
        output_dir=str(output_dir),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        logging_steps=1,
        dataloader_num_workers=0,
    )
