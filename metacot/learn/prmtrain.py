"""`metacot train-prm`: a step-tag PRM trained on a stepwise export with a plain torch loop (TRL >= 1.14 has no
PRMTrainer), evaluated on held-out problems, saved as a folder `--prm transformers --prm-model DIR` loads as it is."""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, get_cosine_schedule_with_warmup

from metacot.backends.models import load_tokenizer
from metacot.config import from_dict
from metacot.flags import flag
from metacot.learn.model import ModelConfig, build_model, build_tokenizer, parameter_count
from metacot.learn.prmdata import Example, encode, metrics, read_stepwise, split_heldout
from metacot.learn.train import quiet_libraries, threads_pinned
from metacot.outputs.files import outermost_missing, remove_made
from metacot.outputs.labels import STEP_TAG
from metacot.presets import merged
from metacot.prm.config import ReadoutConfig
from metacot.prm.readout import PathFormat, single_token_id
from metacot.prm.transformers import marker_logits
from metacot.progress import progress_bar

METRICS = "metrics.json"
SECTION = "train-prm"


def _scratch() -> ModelConfig:
    return ModelConfig(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=192, max_length=1024)


@dataclass(frozen=True)
class TrainPRMConfig:
    """How a PRM is trained: the model it starts from, the optimizer's steps, and the held-out problems."""

    out: str = flag("the trained PRM's folder (model, tokenizer, metrics.json)", "runs/prm", metavar="DIR")
    base_model: str = flag(
        "a local causal LM folder to fine-tune (default: a small model built from scratch, see scratch.*)",
        "",
        name="--model",
        metavar="DIR",
    )
    eval: str = flag(
        "a held-out stepwise export (its folder or data.jsonl; default: --eval-share of the problems held out)",
        "",
        metavar="PATH",
    )
    eval_share: float = flag("share of the export's problems held out when there is no --eval", 0.1)
    steps: int = flag("optimizer steps", 300)
    batch_size: int = flag("paths per step", 16)
    learning_rate: float = flag("peak learning rate of AdamW", 1e-3)
    warmup_ratio: float = field(default=0.05, metadata={"help": "share of the steps spent warming the rate up"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW's weight decay"})
    threshold: float = flag("a step is scored good when P(good) >= X (held-out metrics)", 0.5)
    seed: int = flag("the held-out split, the model's weights and the order of the paths", 0)
    threads: int | None = flag("torch CPU threads (default: torch's own choice)", None)
    scratch: ModelConfig = field(
        default_factory=_scratch, metadata={"help": "the model built from scratch when there is no --model"}
    )

    def __post_init__(self) -> None:
        if min(self.steps, self.batch_size) < 1 or self.learning_rate <= 0:
            raise ValueError(f"steps, batch_size and learning_rate must be positive: {self}")
        if not 0 < self.eval_share < 1 or not 0 < self.threshold < 1 or not 0 <= self.warmup_ratio < 1:
            raise ValueError("eval_share, threshold and warmup_ratio are shares: in (0, 1), (0, 1) and [0, 1)")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be positive: {self.threads}")


def train_prm_config(overrides: dict) -> TrainPRMConfig:
    """The defaults with `overrides` (a nested dict) on top; ConfigError naming the key."""
    return from_dict(TrainPRMConfig, merged(asdict(TrainPRMConfig()), overrides), SECTION)


@dataclass
class TrainedPRM:
    directory: Path
    metrics: dict[str, Any]


@dataclass
class Reader:
    """What reads a path: its text's format, the step tag's id and the [bad, good] token ids."""

    path_format: PathFormat
    tag_id: int
    candidates: list[int]


def train_prm(export: str | Path, config: TrainPRMConfig, command: str = "", progress: bool = True) -> TrainedPRM:
    """Train on the export's records (less the held-out problems), evaluate on the held-out ones, save model,
    tokenizer and metrics.json in config.out."""
    records = read_stepwise(export)
    train, heldout = (
        (records, read_stepwise(config.eval)) if config.eval else split_heldout(records, config.eval_share, config.seed)
    )
    out = Path(config.out)
    made = outermost_missing(out)
    out.mkdir(parents=True, exist_ok=True)
    with threads_pinned(config.threads), quiet_libraries():
        try:
            tokenizer, model = _start(config, [*train, *heldout], out)
            reader = _reader(tokenizer)
        except Exception:  # a model or tokenizer refused: the folders made for it go again (only while empty)
            remove_made(out, made)
            raise
        max_length = config.scratch.max_length if not config.base_model else tokenizer.model_max_length
        examples, cut = encode(train, reader.path_format, reader.tag_id, max_length)
        tests, cut_tests = encode(heldout, reader.path_format, reader.tag_id, max_length)
        start = time.monotonic()
        losses = fit(model, examples, reader, tokenizer.pad_token_id, config, progress)
        wall = time.monotonic() - start
        scores = score(model, tests, reader, tokenizer.pad_token_id, config.batch_size)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    result = {
        "command": command,
        "export": str(export),
        "heldout": config.eval or f"{config.eval_share:g} of the export's problems",
        "heldout_problems": len({r["problem_id"] for r in heldout}),
        "train_paths": len(examples),
        "cut_paths": cut + cut_tests,
        "parameters": parameter_count(model),
        "first_loss": losses[0],
        "final_loss": sum(losses[-10:]) / len(losses[-10:]),
        "train_seconds": round(wall, 1),
        "threshold": config.threshold,
        "heldout_metrics": metrics(tests, scores, config.threshold),
        "config": asdict(config),
    }
    (out / METRICS).write_text(json.dumps(result, indent=2) + "\n")
    return TrainedPRM(out, result)


def _start(config: TrainPRMConfig, records: list[dict], out: Path) -> tuple[Any, Any]:
    """(tokenizer, model): a local model's, with the step tag added to its vocabulary if it has none, or a
    character-level tokenizer of the records' text with the tag and a fresh model of config.scratch."""
    defaults = ReadoutConfig()
    if not config.base_model:
        texts = [r["prompt"] for r in records] + [s for r in records for s in r["completions"]]
        tokenizer = build_tokenizer([*texts, defaults.good_token + defaults.bad_token], out, words=[STEP_TAG])
        return tokenizer, build_model(config.scratch, tokenizer, config.seed)
    tokenizer = load_tokenizer(config.base_model, "--model")
    model = AutoModelForCausalLM.from_pretrained(config.base_model, local_files_only=True, dtype=torch.float32)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if len(tokenizer.encode(STEP_TAG, add_special_tokens=False)) != 1:
        tokenizer.add_tokens([STEP_TAG])
        model.resize_token_embeddings(len(tokenizer))
    return tokenizer, model


def _reader(tokenizer: Any) -> Reader:
    """The read-out metacot's step-tag PRM uses by default (prm.config.ReadoutConfig): no flags needed to load it."""
    defaults = ReadoutConfig()
    tokenizer.padding_side = "right"  # as the PRM backend reads: every path starts at position 0
    return Reader(
        PathFormat(tokenizer, "step-tag", STEP_TAG),
        single_token_id(tokenizer, STEP_TAG, f"{SECTION}: step_tag"),
        [
            single_token_id(tokenizer, defaults.bad_token, f"{SECTION}: bad_token"),
            single_token_id(tokenizer, defaults.good_token, f"{SECTION}: good_token"),
        ],
    )


def fit(
    model: Any, examples: list[Example], reader: Reader, pad_id: int, config: TrainPRMConfig, progress: bool
) -> list[float]:
    """config.steps of AdamW (warmup, cosine decay) on the cross-entropy of each step's label against the [bad,
    good] logits at its tag: the two numbers the PRM reads. Batches are epochs of a seeded shuffle. The losses."""
    if not examples:
        raise ValueError(f"{SECTION}: no training path left (each was cut before its first step tag)")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = get_cosine_schedule_with_warmup(optimizer, int(config.warmup_ratio * config.steps), config.steps)
    order = _order(len(examples), config.steps * config.batch_size, config.seed)
    model.train()
    losses = []
    bar = progress_bar(show=progress, total=config.steps, unit="step", desc="train-prm")
    with bar:
        for step in range(config.steps):
            batch = [examples[i] for i in order[step * config.batch_size : (step + 1) * config.batch_size]]
            logits, labels = _logits(model, batch, reader, pad_id)
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix_str(f"loss {losses[-1]:.3f}")
    model.eval()
    return losses


def score(model: Any, examples: list[Example], reader: Reader, pad_id: int, batch_size: int) -> list[list[float]]:
    """P(good) at each step tag of each example."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            batch = examples[start : start + batch_size]
            good = torch.softmax(_logits(model, batch, reader, pad_id)[0].float(), dim=-1)[:, 1].tolist()
            for example in batch:
                out.append(good[: len(example.labels)])
                good = good[len(example.labels) :]
    return out


def _logits(model: Any, batch: list[Example], reader: Reader, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's [bad, good] logits at its tags, row-major, and the labels (1: good), padded on the right."""
    width = max(len(e.ids) for e in batch)
    ids = torch.tensor([e.ids + [pad_id] * (width - len(e.ids)) for e in batch], device=model.device)
    mask = torch.tensor([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in batch], device=model.device)
    at = (ids == reader.tag_id) & mask.bool()
    logits = marker_logits(model, {"input_ids": ids, "attention_mask": mask}, at, reader.candidates)
    labels = torch.tensor([int(good) for e in batch for good in e.labels], device=model.device)
    return logits, labels


def _order(count: int, needed: int, seed: int) -> list[int]:
    """`needed` indices of `count` examples: epochs of a seeded shuffle."""
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < needed:
        epoch = list(range(count))
        rng.shuffle(epoch)
        order += epoch
    return order[:needed]
