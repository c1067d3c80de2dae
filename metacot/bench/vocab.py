"""A tiny random causal LM with a real model's vocabulary size, built locally in seconds: per-call costs that grow
with the vocabulary (a scan of it in every generate call) show in benchmarks, as they would with a real model."""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SEED = 0


def tiny_llama_config(tokenizer: Any, **overrides: Any) -> Any:
    """A transformers LlamaConfig of hidden 64, 2 layers, head_dim 32 (vLLM's CPU attention needs head_dim in
    {32, 64, ...}) for the tokenizer; the tests' tiny models use it too."""
    from transformers import LlamaConfig

    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaConfig(**(settings | overrides))


def build_large_vocab_lm(directory: str | Path, vocab_size: int = 151_000) -> Path:
    """A random 2-layer Llama (hidden 64) and a byte-level BPE tokenizer with `vocab_size` tokens, ChatML, EOS
    <|im_end|>: the 256 bytes, the special tokens, and filler words (no merges reach them; the model samples them)."""
    import torch
    from transformers import LlamaForCausalLM

    tokenizer = _tokenizer(vocab_size)
    tokenizer.save_pretrained(directory)
    config = tiny_llama_config(tokenizer, max_position_embeddings=2048)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        LlamaForCausalLM(config).eval().save_pretrained(directory)
    return Path(directory)


def _tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size: need at least {len(alphabet) + len(SPECIAL_TOKENS)} tokens, got {vocab_size}")
    tokens = [*SPECIAL_TOKENS, *sorted(alphabet)]
    tokens += itertools.islice(_fillers(set(tokens)), vocab_size - len(tokens))
    raw = Tokenizer(models.BPE(vocab={token: i for i, token in enumerate(tokens)}, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.add_special_tokens(SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=["<|im_start|>"],
        padding_side="left",
        chat_template=CHATML,
    )


def _fillers(taken: set[str]) -> Iterator[str]:
    """Lowercase words of two letters and more, in order, that are not tokens already."""
    for length in itertools.count(2):
        for letters in itertools.product(string.ascii_lowercase, repeat=length):
            word = "".join(letters)
            if word not in taken:
                yield word
