"""The from-scratch model of the learn experiment: a tokenizer built from the data (characters, optionally merged into
byte-level BPE pieces with digits kept single), a Llama-style causal LM of a chosen size."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

BOS, EOS, PAD, UNK = "<|bos|>", "<|eos|>", "<|pad|>", "<|unk|>"
SPECIALS = (BOS, EOS, PAD, UNK)


@dataclass(frozen=True)
class ModelConfig:
    """The size of the from-scratch causal LM (Llama layout, embeddings tied to the output layer)."""

    hidden_size: int = field(default=192, metadata={"help": "width of the model (embedding and attention)"})
    num_layers: int = field(default=4, metadata={"help": "transformer layers"})
    num_heads: int = field(default=4, metadata={"help": "attention heads (hidden_size must divide by it)"})
    intermediate_size: int = field(default=512, metadata={"help": "width of each layer's feed-forward block"})
    max_length: int = field(
        default=1024,
        metadata={"help": "tokens of prompt + completion the model reads; longer training records are cut (counted)"},
    )
    merges: int = field(
        default=0,
        metadata={
            "help": "pieces learned from the data on top of single bytes (byte-level BPE; a digit is always a token of "
            "its own): 0 makes every character a token"
        },
    )

    def __post_init__(self) -> None:
        if min(self.hidden_size, self.num_layers, self.num_heads, self.intermediate_size, self.max_length) < 1:
            raise ValueError(f"model sizes must be positive: {self}")
        if self.merges < 0:
            raise ValueError(f"merges must be 0 or more: {self.merges}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} does not divide into {self.num_heads} heads")


def build_tokenizer(
    texts: Iterable[str], directory: Path, words: Iterable[str] = (), merges: int = 0
) -> PreTrainedTokenizerFast:
    """A PreTrainedTokenizerFast built from the texts: every character of them a token (others read as the unknown
    token), or with `merges` byte-level BPE pieces learned from them (digits always single, so arithmetic is written
    digit by digit); plus beginning, end, padding and unknown tokens, and each of `words` whole (a PRM's step tag).
    Each encoding starts with the beginning token, padding is on the left (for batched generation). Saved in
    `directory` for AutoTokenizer."""
    raw = _merged(texts, merges) if merges else _characters(texts)
    vocab = raw.get_vocab()
    raw.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.add_tokens(list(words))
    tokenizer.save_pretrained(directory)
    return tokenizer


def _characters(texts: Iterable[str]) -> Tokenizer:
    characters = sorted(set().union(*map(set, texts)))
    vocab = {token: i for i, token in enumerate([*SPECIALS, *characters])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    raw.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # every character alone
    raw.decoder = decoders.Fuse()  # characters joined back with nothing in between
    return raw


def _merged(texts: Iterable[str], merges: int) -> Tokenizer:
    raw = Tokenizer(models.BPE(unk_token=UNK))
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    raw.decoder = decoders.ByteLevel()  # every byte back as it was: the text round-trips exactly
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=len(SPECIALS) + len(alphabet) + merges,
        special_tokens=list(SPECIALS),
        initial_alphabet=alphabet,
        show_progress=False,
    )
    raw.train_from_iterator(texts, trainer)
    return raw


def build_model(config: ModelConfig, tokenizer: Any, seed: int) -> PreTrainedModel:
    """A freshly initialised Llama-style causal LM for the tokenizer, its weights drawn from `seed` (the global
    random state is left as it was)."""
    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_length,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(llama)


def parameter_count(model: torch.nn.Module) -> int:
    """The model's distinct trainable numbers (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())
