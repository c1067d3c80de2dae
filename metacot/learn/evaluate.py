"""Evaluating a trained model on held-out problems: greedy and sampled completions, each with its answer verified by
metacot's Countdown verifier and its own trace checked for validity."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from metacot.backends.pool import CACHE_ARGUMENT, Row, Sampler, growing_cache, pooled
from metacot.learn.eval_config import EvalConfig
from metacot.learn.loops import LoopStop, line_breaks
from metacot.learn.train import quiet_libraries, threads_pinned
from metacot.learn.validity import check_trace, read_answer
from metacot.problems.countdown import CountdownProblem, verify_answer
from metacot.progress import progress_bar


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
        made = pooled_generate(model, tokenizer, [prompts[i] for i in chosen], sample, config, bar)
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


def pooled_generate(
    model: Any, tokenizer: Any, prompts: list[str], sample: bool, config: EvalConfig, bar: Any
) -> list[tuple[str, int, str | None]]:
    """(completion text, tokens generated, why it stopped) for each prompt, config.batch_size pooled together:
    greedy, or sampled at config.temperature; stopped at the end token (None), once caught looping ("loop",
    config.loop_lines) or at max_new_tokens or the end of the model's context ("length")."""
    window, room = config.loop_lines or 0, model.config.max_position_embeddings
    breaks = line_breaks(tokenizer)
    rows = [
        Row(p, max(1, min(config.max_new_tokens, room - len(p))), LoopStop(tokenizer, breaks, window))
        for p in tokenizer(prompts)["input_ids"]
    ]
    sampler = Sampler(temperature=config.temperature if sample else 0.0)
    pooled(model, tokenizer, rows, config.batch_size, sampler, config.cache, lambda row: bar.update(1))
    return [(tokenizer.decode(row.made, skip_special_tokens=True), len(row.made), why(row)) for row in rows]


def why(row: Row) -> str | None:
    """Why a pooled row stopped, as an attempt records it: None at the end token."""
    return None if row.stopped == "end" else row.stopped


def generate(
    model: Any, tokenizer: Any, prompts: list[str], sample: bool, config: EvalConfig
) -> list[tuple[str, int, str | None]]:
    """(completion text, tokens generated, why it stopped) for each prompt, batched together: greedy, or sampled at
    the configured temperature; stopped at the end token (None) or at max_new_tokens or the end of the model's
    context ("length")."""
    inputs = tokenizer(prompts, return_tensors="pt", padding=True)
    settings = {"temperature": config.temperature, "top_k": 0, "top_p": 1.0} if sample else {}  # the full distribution
    room = model.config.max_position_embeddings - inputs["input_ids"].shape[1]  # the model reads no further
    output = model.generate(
        **inputs,
        max_new_tokens=max(1, min(config.max_new_tokens, room)),
        do_sample=sample,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **({CACHE_ARGUMENT: growing_cache()} if config.cache == "growing" else {}),
        **settings,
    )
    done = []
    for row in output[:, inputs["input_ids"].shape[1] :].tolist():
        ends = [k for k, token in enumerate(row) if token == tokenizer.eos_token_id]
        made = row[: ends[0] + 1] if ends else row
        done.append((tokenizer.decode(made, skip_special_tokens=True), len(made), "length" if not ends else None))
    return done


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
