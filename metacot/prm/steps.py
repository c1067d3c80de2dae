"""How a model PRM reads a path: the question, then each step followed by a step tag or separator token."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

STYLES = ("step-tag", "separator-head")

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

    def encode(self, question: str, steps: list[str]) -> list[int]:
        return self.tokenizer.encode(self.text(question, steps), add_special_tokens=self.add_special_tokens)

    def _clean(self, text: str) -> str:
        return text.replace(self.marker, "").strip()


def single_token_id(tokenizer: Any, text: str, setting: str) -> int:
    """The id of `text` when it is exactly one token of the vocabulary; else a ValueError naming the setting."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        pieces = tokenizer.convert_ids_to_tokens(ids)
        raise ValueError(f"{setting}: {text!r} must be a single token of the model's vocabulary, but it is {pieces}")
    return ids[0]


def check_marker_separate(path_format: PathFormat, marker_id: int, setting: str) -> None:
    """A ValueError naming the setting unless the marker stays its own token after every step of a sample path.

    A marker that merges with the text before it is silently never found, so the PRM would read nothing.
    """
    text = path_format.text("a question", _PROBE_STEPS)
    ids = path_format.encode("a question", _PROBE_STEPS)
    if ids.count(marker_id) != len(_PROBE_STEPS):
        pieces = path_format.tokenizer.convert_ids_to_tokens(ids)
        raise ValueError(
            f"{setting}: {path_format.marker!r} merges with the text next to it: {text!r} tokenizes as {pieces}, "
            f"where the marker must appear as its own token after each of the {len(_PROBE_STEPS)} steps"
        )
