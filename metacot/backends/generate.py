"""Text generation on any LLM backend: the sampling settings, per-prompt seeds, prompt rendering, the protocol, calls
sized by tokens."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from metacot.backends.models import added_bos
from metacot.seeding import mix, problem_seed

ChatRenderer = Callable[[str], str]


@dataclass(frozen=True)
class Sampling:
    """How `generate` samples each text; checked when built."""

    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()  # a text ends before the first of these (not included)
    seed: int = 0
    chat: bool = True  # each prompt as a user message in the chat template; False: a raw completion of the text

    def __post_init__(self) -> None:
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(
                f"sampling: need temperature >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}"
            )
        if self.max_tokens < 1:
            raise ValueError(f"sampling.max_tokens: must be at least 1, got {self.max_tokens}")
        if isinstance(self.stop, str) or not all(self.stop):
            raise ValueError(f"sampling.stop: expected a list of non-empty strings, got {self.stop!r}")
        object.__setattr__(self, "stop", tuple(self.stop))


@runtime_checkable
class TextGenerator(Protocol):
    def generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
        """One text per prompt, all prompts in one backend call (one HTTP request each, sent concurrently)."""
        ...


def request_seed(seed: int) -> int:
    """A request's seed folded into a signed 64-bit integer, the range engines and servers accept."""
    return seed & (2**63 - 1)


def prompt_seeds(prompts: list[str], seed: int) -> list[int]:
    """Each prompt's own seed, from (seed, its text, how many equal prompts came before it): a prompt's text does
    not depend on the other prompts of the call, and equal prompts give independent samples."""
    seen: Counter[str] = Counter()
    seeds = []
    for prompt in prompts:
        seeds.append(mix(problem_seed(seed, prompt), seen[prompt]))
        seen[prompt] += 1
    return seeds


def chat_renderer(tokenizer: Any) -> ChatRenderer:
    """A user message in the tokenizer's chat template, ending where the assistant's reply begins."""

    def render(user: str) -> str:
        messages = [{"role": "user", "content": user}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    return render


def model_text(tokenizer: Any, prompt: str, chat: bool) -> str:
    """The whole text the model continues, special tokens written out (encode it without adding any): the chat
    template's, or the prompt after the BOS that the tokenizer would add to a raw completion."""
    return chat_renderer(tokenizer)(prompt) if chat else added_bos(tokenizer) + prompt


def prompt_lengths(tokenizer: Any, prompts: list[str], chat: bool) -> list[int]:
    """The tokens the model reads for each prompt (its model_text, encoded as generate encodes it)."""
    texts = [model_text(tokenizer, p, chat) for p in prompts]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []


def token_batches(lengths: list[int], new_tokens: int, budget: int) -> Iterator[slice]:
    """The prompts (by their lengths in tokens) cut into consecutive calls whose tokens stay within `budget`: every
    prompt of a call counted at its longest prompt's length (the padded batch a local model holds) plus the
    `new_tokens` it may generate. A prompt that alone is over the budget is a call of its own."""
    start, longest = 0, 0
    for i, length in enumerate(lengths):
        if i > start and (i - start + 1) * (max(longest, length) + new_tokens) > budget:
            yield slice(start, i)
            start, longest = i, 0
        longest = max(longest, length)
    if start < len(lengths):
        yield slice(start, len(lengths))


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """The text before the first stop string (for engines that keep the stop string in their output)."""
    ends = [i for i in (text.find(s) for s in stop) if i >= 0]
    return text[: min(ends)] if ends else text
