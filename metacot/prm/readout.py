"""How a learned PRM is read, whatever runs it: the path text with a marker after each step, the marker and
good/bad tokens checked, the per-marker rows turned into step scores and one score."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

from metacot.prm.base import ScoreRequest
from metacot.prm.config import STYLES, ReadoutConfig
from metacot.problems.base import Domain

AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "last": lambda scores: scores[-1],
    "min": min,
    "prod": math.prod,
    "mean": statistics.fmean,
}

_PROBE_STEPS = ["some step text", "12 + 3 = 15"]


class PathFormat:
    """The text a PRM scores, with `marker` (a step tag or separator) after every step.

    step-tag (Math-Shepherd): 'question step 1 ки\\nstep 2 ки', plain text, the tokenizer adds its BOS.
    separator-head (Qwen2.5-Math-PRM): the chat template with the steps as the assistant's reply, each followed by
    the separator ('step 1<extra_0>step 2<extra_0>'), after an optional system prompt.
    The marker is removed from the question and the steps first: model output must not add markers.
    """

    def __init__(self, tokenizer: Any, style: str, marker: str, system_prompt: str | None = None):
        self.tokenizer, self.style, self.marker, self.system_prompt = tokenizer, style, marker, system_prompt
        self.add_special_tokens = style == "step-tag"  # the chat template writes its own special tokens

    def text(self, question: str, steps: list[str]) -> str:
        question, steps = self._clean(question), [self._clean(s) for s in steps]
        if self.style == "step-tag":
            return question + " " + "\n".join(f"{step} {self.marker}" for step in steps)
        messages = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "".join(step + self.marker for step in steps)},
        ]
        if self.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return self.tokenizer.apply_chat_template(messages, tokenize=False)

    def encode(self, text: str) -> list[int]:
        """The token ids of a path's text."""
        return self.tokenizer.encode(text, add_special_tokens=self.add_special_tokens)

    def _clean(self, text: str) -> str:
        return text.replace(self.marker, "").strip()


def single_token_id(tokenizer: Any, text: str, setting: str) -> int:
    """The id of `text` when it is exactly one token of the vocabulary; else a ValueError naming the setting."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        pieces = tokenizer.convert_ids_to_tokens(ids)
        raise ValueError(f"{setting}: {text!r} must be a single token of the model's vocabulary, but it is {pieces}")
    return ids[0]


class Readout:
    """A PRM's read-out on the client side of any engine: each path as text or token ids with a marker after
    each step, the pooling settings that read the model at those markers, and the per-marker rows -> scores.

    Rows follow vLLM's pooling convention: step-tag, one value per marker, P(good) from the LM head's
    [bad, good] logits (`candidates`); separator-head, the 2-label head's class probabilities, class 1 good.
    """

    def __init__(self, tokenizer: Any, config: ReadoutConfig, domain: Domain, section: str):
        if config.style not in STYLES:
            raise ValueError(f"{section}.style: expected one of {', '.join(STYLES)}, got {config.style!r}")
        if config.aggregate not in AGGREGATES:
            raise ValueError(f"{section}.aggregate: expected one of {', '.join(AGGREGATES)}, got {config.aggregate!r}")
        self.tokenizer, self.domain, self.section = tokenizer, domain, section
        self.tagged = config.style == "step-tag"
        self.aggregate = AGGREGATES[config.aggregate]
        name, marker = ("step_tag", config.step_tag) if self.tagged else ("separator", config.separator)
        self.marker_id = single_token_id(tokenizer, marker, f"{section}.{name}")
        self.candidates = (  # [bad, good]: class 1 means a good step in both styles
            [
                single_token_id(tokenizer, config.bad_token, f"{section}.bad_token"),
                single_token_id(tokenizer, config.good_token, f"{section}.good_token"),
            ]
            if self.tagged
            else None
        )
        self.format = PathFormat(tokenizer, config.style, marker, config.system_prompt)
        self._check_marker_separate(f"{section}.{name}")

    def texts(self, requests: list[ScoreRequest]) -> list[str]:
        for r in requests:
            if not r.steps:
                raise ValueError(f"{self.section}: node {r.node.id} of {r.tree.problem_id!r} has no step to score")
        return [self.format.text(self.domain.prompt(r.problem), r.steps) for r in requests]

    def token_ids(self, requests: list[ScoreRequest]) -> list[list[int]]:
        return [self.format.encode(text) for text in self.texts(requests)]

    def engine_args(self) -> dict[str, Any]:
        """The vllm.LLM arguments (also the API server's flags) that make the model answer token_classify
        requests with one row per marker."""
        pooling = {"tok_pooling_type": "STEP", "step_tag_id": self.marker_id}
        if self.candidates is None:
            return {"runner": "pooling", "pooler_config": pooling}
        # vLLM turns the LM head's rows for [bad, good] into a 1-label classifier: sigmoid(good - bad) = P(good).
        tokens = self.tokenizer.convert_ids_to_tokens(self.candidates)
        return {
            "runner": "pooling",
            "convert": "classify",
            "hf_overrides": {"classifier_from_token": tokens, "method": "from_2_way_softmax"},
            "pooler_config": {"task": "token_classify", **pooling},
        }

    def step_scores(self, requests: list[ScoreRequest], rows: list[list[list[float]]]) -> list[list[float]]:
        """The probability that each step is good, from the rows at the markers: the last value of each row."""
        columns = 1 if self.tagged else 2
        out = []
        for request, marker_rows in zip(requests, rows, strict=True):
            if len(marker_rows) != len(request.steps):
                raise ValueError(
                    f"{self.section}: {len(marker_rows)} markers for {len(request.steps)} steps: the marker merged "
                    f"with a step of node {request.node.id} of {request.tree.problem_id!r}"
                )
            if any(len(row) != columns for row in marker_rows):
                raise ValueError(
                    f"{self.section}.model: expected {columns} value(s) per marker for style "
                    f"{'step-tag' if self.tagged else 'separator-head'}, got {len(marker_rows[0])}: "
                    "is the model (or the server's --runner/--convert/--pooler-config) set up for this style?"
                )
            out.append([row[-1] for row in marker_rows])
        return out

    def scores(self, requests: list[ScoreRequest], rows: list[list[list[float]]]) -> list[float]:
        return [self.aggregate(s) for s in self.step_scores(requests, rows)]

    def _check_marker_separate(self, setting: str) -> None:
        """A ValueError naming the setting unless the marker stays its own token after every step of a sample path.

        A marker that merges with the text before it is silently never found, so the PRM would read nothing.
        """
        text = self.format.text("a question", _PROBE_STEPS)
        ids = self.format.encode(text)
        if ids.count(self.marker_id) != len(_PROBE_STEPS):
            pieces = self.tokenizer.convert_ids_to_tokens(ids)
            raise ValueError(
                f"{setting}: {self.format.marker!r} merges with the text next to it: {text!r} tokenizes as {pieces}, "
                f"where the marker must appear as its own token after each of the {len(_PROBE_STEPS)} steps"
            )


class ReaderPRM:
    """A PRM whose model gives a row at each step marker, read by a Readout; subclasses say where the rows come
    from (a local model, an engine, a server)."""

    reader: Readout

    def score(self, requests: list[ScoreRequest]) -> list[float]:
        return self.reader.scores(requests, self._rows(requests))

    def step_scores(self, requests: list[ScoreRequest]) -> list[list[float]]:
        """The probability that each step of each path is good."""
        return self.reader.step_scores(requests, self._rows(requests))

    def _rows(self, requests: list[ScoreRequest]) -> list[list[list[float]]]:
        raise NotImplementedError
