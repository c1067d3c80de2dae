"""PLACEHOLDER for the MODEL engineer's module (issue 26): the interface's training call, saving an untrained model,
so that the experiment runs end to end on the DATA branch; the merge takes the real module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from metacot.learn.model import ModelConfig, build_model


@dataclass(frozen=True)
class TrainConfig:
    train_tokens: int = field(default=2_000_000, metadata={"help": "training tokens"})
    learning_rate: float = field(default=2e-3, metadata={"help": "peak learning rate"})
    batch_size: int = field(default=32, metadata={"help": "records per step"})
    warmup_ratio: float = field(default=0.05, metadata={"help": "warm-up share of the steps"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay"})
    threads: int | None = field(default=None, metadata={"help": "torch threads"})


@dataclass
class TrainResult:
    directory: Path
    tokens_seen: int
    steps: int
    records_seen: int
    final_loss: float
    wall_time: float
    cut_records: int


def train(
    records: list[dict],
    tokenizer_dir: Path,
    model: ModelConfig,
    config: TrainConfig,
    seed: int,
    directory: Path,
    progress: bool = True,
) -> TrainResult:
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(tokenizer_dir))
    build_model(model, tokenizer, seed).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return TrainResult(directory, 0, 0, 0, float("nan"), 0.0, 0)
