"""Tiny local models for tests, built in seconds with no downloads: a BPE tokenizer, a causal LM, a PRM head."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaForCausalLM, LlamaForTokenClassification, PreTrainedTokenizerFast

from metacot.bench.vocab import tiny_llama_config
from metacot.problems.countdown import (
    CountdownDomain,
    Number,
    apply_step,
    format_move,
    generate_problems,
    legal_moves,
)

STEP_TAG = "ки"  # Math-Shepherd's step tag
SEPARATOR = "<extra_0>"  # Qwen2.5-Math-PRM's step separator
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", STEP_TAG, SEPARATOR]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@contextmanager
def single_thread() -> Iterator[None]:
    """torch on one thread: models this small gain little from more, and on a busy 2-core machine two threads
    waiting on each other made training 10x slower (measured: 12 s on one thread, 120 s on two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def countdown_solutions(count: int, seed: int) -> list[tuple[str, list[str]]]:
    """(Countdown prompt, a random sequence of legal steps down to one number) for generated problems."""
    domain, rng = CountdownDomain(), random.Random(seed)
    out = []
    for problem in generate_problems(count, seed):
        state: tuple[Number, ...] = problem.numbers
        steps: list[str] = []
        while len(state) > 1:
            steps.append(format_move(rng.choice(legal_moves(state))))
            state = apply_step(state, steps[-1])
        out.append((domain.prompt(problem), steps))
    return out


def build_tokenizer(directory: str | Path, vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on Countdown text, with ChatML, left padding and the PRM markers as single tokens."""
    texts = [text for prompt, steps in countdown_solutions(50, 0) for text in (prompt, "\n".join(steps))]
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=["<|im_start|>", STEP_TAG, SEPARATOR],
        padding_side="left",
        chat_template=CHATML,
    )
    tokenizer.save_pretrained(directory)
    return tokenizer


def build_causal_lm(directory: str | Path, train_steps: int = 150, seed: int = 0) -> Path:
    """A ~100k-parameter Llama trained briefly on Countdown chats: it writes 'a op b = c' lines (mostly illegal)."""
    tokenizer = build_tokenizer(directory)
    with torch.random.fork_rng(devices=[]), single_thread():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(tiny_llama_config(tokenizer))
        if train_steps:
            _train(model, tokenizer, train_steps)
    model.eval().save_pretrained(directory)
    return Path(directory)


def build_token_classifier(directory: str | Path, seed: int = 0) -> Path:
    """An untrained 2-label Llama token classifier (a separator-head PRM); a wide init spreads its scores."""
    tokenizer = build_tokenizer(directory)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForTokenClassification(tiny_llama_config(tokenizer, num_labels=2, initializer_range=0.2))
    model.eval().save_pretrained(directory)
    return Path(directory)


def _train(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, steps: int, batch_size: int = 16) -> None:
    """AdamW on whole chats (prompt, steps one per line, end of turn), enough to learn the step layout and '\\n'."""
    texts = [
        str(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        )
        + "".join(step + "\n" for step in solution)
        + str(tokenizer.eos_token)
        for prompt, solution in countdown_solutions(200, 1)
    ]
    batch = tokenizer(texts, return_tensors="pt", padding=True, padding_side="right")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        pick = torch.randint(0, len(texts), (batch_size,))
        loss = model(
            input_ids=batch["input_ids"][pick], attention_mask=batch["attention_mask"][pick], labels=labels[pick]
        ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
