"""A local Hugging Face model as the PRM: Math-Shepherd step tags or a Qwen2.5-Math-PRM style separator head."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

from metacot.policy.transformers import load_pretrained
from metacot.prm.base import ScoreRequest
from metacot.prm.config import TransformersPRMConfig
from metacot.prm.steps import AGGREGATES, STYLES, PathFormat, check_marker_separate, single_token_id
from metacot.problems.base import Domain

SECTION = "prm.transformers"


class TransformersPRM:
    """Scores each path's steps in one batched forward pass per chunk and aggregates them to one score in [0, 1]."""

    def __init__(self, config: TransformersPRMConfig, domain: Domain):
        if config.style not in STYLES:
            raise ValueError(f"{SECTION}.style: expected one of {', '.join(STYLES)}, got {config.style!r}")
        if config.aggregate not in AGGREGATES:
            raise ValueError(f"{SECTION}.aggregate: expected one of {', '.join(AGGREGATES)}, got {config.aggregate!r}")
        if config.batch_size < 1:
            raise ValueError(f"{SECTION}.batch_size: must be at least 1, got {config.batch_size}")
        self.config, self.domain = config, domain
        tagged = config.style == "step-tag"
        model_class = AutoModelForCausalLM if tagged else AutoModelForTokenClassification
        self.tokenizer, self.model = load_pretrained(model_class, config.model, config.device, config.dtype, SECTION)
        self.tokenizer.padding_side = "right"  # every path starts at position 0, whatever the batch
        name, marker = ("step_tag", config.step_tag) if tagged else ("separator", config.separator)
        setting = f"{SECTION}.{name}"
        self.marker_id = single_token_id(self.tokenizer, marker, setting)
        if tagged:  # [bad, good], so that class 1 means a good step in both styles
            self.candidates = [
                single_token_id(self.tokenizer, config.bad_token, f"{SECTION}.bad_token"),
                single_token_id(self.tokenizer, config.good_token, f"{SECTION}.good_token"),
            ]
        elif (labels := self.model.config.num_labels) != 2:
            raise ValueError(f"{SECTION}.model: a separator-head PRM needs a 2-label head, this one has {labels}")
        self.format = PathFormat(self.tokenizer, config.style, marker, config.system_prompt)
        check_marker_separate(self.format, self.marker_id, setting)

    def score(self, requests: list[ScoreRequest]) -> list[float]:
        aggregate = AGGREGATES[self.config.aggregate]
        return [aggregate(scores) for scores in self.step_scores(requests)]

    def step_scores(self, requests: list[ScoreRequest]) -> list[list[float]]:
        """The probability that each step of each path is good."""
        for r in requests:
            if not r.steps:
                raise ValueError(f"{SECTION}: node {r.node.id} of {r.tree.problem_id!r} has no step to score")
        size = self.config.batch_size
        chunks = (requests[start : start + size] for start in range(0, len(requests), size))
        return [scores for chunk in chunks for scores in self._chunk(chunk)]

    def _chunk(self, requests: list[ScoreRequest]) -> list[list[float]]:
        texts = [self.format.text(self.domain.prompt(r.problem), r.steps) for r in requests]
        batch = self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=self.format.add_special_tokens
        ).to(self.model.device)
        at = batch["input_ids"] == self.marker_id
        with torch.inference_mode():
            good = torch.softmax(self._marker_logits(batch, at).float(), dim=-1)[:, 1].tolist()
        out, offset = [], 0
        for request, text, count in zip(requests, texts, at.sum(dim=1).tolist(), strict=True):
            if count != len(request.steps):
                steps = len(request.steps)
                raise ValueError(f"{SECTION}: {count} markers for {steps} steps, one merged with the text: {text!r}")
            out.append(good[offset : offset + count])
            offset += count
        return out

    def _marker_logits(self, batch: dict, at: torch.Tensor) -> torch.Tensor:
        """(markers, 2) logits in row-major marker order: [bad, good] or the head's [class 0, class 1]."""
        if self.config.style == "separator-head":
            return self.model(**batch).logits[at]
        columns = at.any(dim=0).nonzero().squeeze(1)  # the LM head only runs where some row has a tag
        logits = self.model(**batch, logits_to_keep=columns).logits
        return logits[at[:, columns]][:, self.candidates]
