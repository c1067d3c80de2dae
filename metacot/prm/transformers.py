"""A local Hugging Face model as the PRM: Math-Shepherd step tags or a Qwen2.5-Math-PRM style separator head."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

from metacot.backends.models import load_pretrained, set_threads
from metacot.prm.base import ScoreRequest
from metacot.prm.config import TransformersPRMConfig
from metacot.prm.readout import ReaderPRM, Readout
from metacot.problems.base import Domain

SECTION = "prm.transformers"


class TransformersPRM(ReaderPRM):
    """Reads each path's markers in one batched forward pass per chunk of at most batch_size paths."""

    def __init__(self, config: TransformersPRMConfig, domain: Domain):
        if config.batch_size < 1:
            raise ValueError(f"{SECTION}.batch_size: must be at least 1, got {config.batch_size}")
        self.config = config
        set_threads(config.threads)
        head = config.style == "separator-head"
        model_class = AutoModelForTokenClassification if head else AutoModelForCausalLM
        self.tokenizer, self.model = load_pretrained(model_class, config.model, config.device, config.dtype, SECTION)
        self.tokenizer.padding_side = "right"  # every path starts at position 0, whatever the batch
        self.reader = Readout(self.tokenizer, config, domain, SECTION)
        if head and (labels := self.model.config.num_labels) != 2:
            raise ValueError(f"{SECTION}.model: a separator-head PRM needs a 2-label head, this one has {labels}")

    def _rows(self, requests: list[ScoreRequest]) -> list[list[list[float]]]:
        texts = self.reader.texts(requests)
        size = self.config.batch_size
        return [rows for start in range(0, len(texts), size) for rows in self._chunk(texts[start : start + size])]

    def _chunk(self, texts: list[str]) -> list[list[list[float]]]:
        """Each path's rows at its markers: P(good) (step-tag) or the head's two class probabilities."""
        batch = self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=self.reader.format.add_special_tokens
        ).to(self.model.device)
        at = batch["input_ids"] == self.reader.marker_id
        with torch.inference_mode():
            probabilities = torch.softmax(self._marker_logits(batch, at).float(), dim=-1)
        rows = (probabilities[:, 1:] if self.reader.tagged else probabilities).tolist()
        out, offset = [], 0
        for count in at.sum(dim=1).tolist():
            out.append(rows[offset : offset + count])
            offset += count
        return out

    def _marker_logits(self, batch: dict, at: torch.Tensor) -> torch.Tensor:
        return marker_logits(self.model, batch, at, self.reader.candidates)


def marker_logits(model: Any, batch: dict, at: torch.Tensor, candidates: list[int] | None) -> torch.Tensor:
    """(markers, 2) logits at the positions `at`, in row-major order: a causal LM's [bad, good] token logits
    (`candidates`), or a 2-label head's [class 0, class 1] (None); trainers read the same logits."""
    if candidates is None:
        return model(**batch).logits[at]
    columns = at.any(dim=0).nonzero().squeeze(1)  # the LM head only runs where some row has a tag
    logits = model(**batch, logits_to_keep=columns).logits
    return logits[at[:, columns]][:, candidates]
