"""PLACEHOLDER for the MODEL engineer's module (issue 26): the interface's tokenizer and from-scratch model, so that
the experiment runs end to end on the DATA branch; the merge takes the real module."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

SPECIALS = ["<pad>", "<eos>", "<unk>"]


@dataclass(frozen=True)
class ModelConfig:
    hidden_size: int = field(default=192, metadata={"help": "width"})
    num_layers: int = field(default=4, metadata={"help": "layers"})
    num_heads: int = field(default=4, metadata={"help": "attention heads"})
    intermediate_size: int = field(default=512, metadata={"help": "feed-forward width"})
    max_length: int = field(default=1024, metadata={"help": "tokens of prompt + completion"})


def build_tokenizer(texts: Iterable[str], directory: Path) -> PreTrainedTokenizerFast:
    """A character-level tokenizer of the texts' characters, saved in `directory`."""
    chars = sorted({c for text in texts for c in text})
    vocab = {token: i for i, token in enumerate(SPECIALS + chars)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def build_model(config: ModelConfig, tokenizer: Any, seed: int) -> PreTrainedModel:
    import torch

    torch.manual_seed(seed)
    settings = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_length,
    )
    return LlamaForCausalLM(settings)


def parameter_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
