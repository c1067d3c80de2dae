"""A local Hugging Face causal LM as the policy: each request's samples generated pooled (metacot.backends.pool),
each row with its own seeded sampling stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoModelForCausalLM

from metacot.backends.generate import (
    Sampling,
    chat_renderer,
    cut_at_stop,
    model_text,
    prompt_lengths,
    prompt_seeds,
    request_seed,
)
from metacot.backends.models import load_pretrained, set_threads
from metacot.backends.pool import Row, Sampler, pooled
from metacot.policy.base import ExpandRequest, Proposal, Rollout
from metacot.policy.config import TransformersPolicyConfig
from metacot.policy.llm import sampling_config, split_steps
from metacot.policy.prompts import PromptBuilder
from metacot.problems.base import Domain
from metacot.seeding import mix

SECTION = "policy.transformers"


def _token_ids(value: int | list[int] | None) -> set[int]:
    if value is None:
        return set()
    return {value} if isinstance(value, int) else set(value)


def context_length(model: object, tokenizer: object) -> int | None:
    """The most tokens (prompt and generated) the model reads: the least of its config's position limit and the
    tokenizer's model_max_length; None when neither says (transformers' "unknown" sentinel is a huge number)."""
    config = getattr(model, "config", None)
    known = [getattr(config, name, None) for name in ("max_position_embeddings", "n_positions")]
    known.append(getattr(tokenizer, "model_max_length", None))
    limits = [n for n in known if type(n) is int and 0 < n < _UNKNOWN_LENGTH]
    return min(limits) if limits else None


_UNKNOWN_LENGTH = 10**12  # transformers writes int(1e30) for a tokenizer that does not know its model's length


class _Stop:
    """A row's stop (a pooled Row's `stop`): "end" at an end token, "stop" once the text of its latest tokens holds
    a stop string. Only the last few tokens are decoded (a stop string the latest token completes lies in them, as
    each token writes at least a character or a part of one), so a row costs no more per token as it grows."""

    def __init__(self, tokenizer: Any, eos_ids: set[int], stop: tuple[str, ...]):
        self.decode, self.eos_ids, self.stop = tokenizer.decode, eos_ids, stop
        self.tail = max((len(s) for s in stop), default=0) + 4

    def __call__(self, made: list[int]) -> str | None:
        if made[-1] in self.eos_ids:
            return "end"
        if self.stop:
            text = self.decode(made[-self.tail :], skip_special_tokens=True, clean_up_tokenization_spaces=False)
            if any(s in text for s in self.stop):
                return "stop"
        return None


@dataclass(frozen=True)
class _Decoding:
    """How one kind of text is generated: the sampler, the most tokens, and the rows' stop."""

    sampler: Sampler
    max_tokens: int
    stop: _Stop


class TransformersPolicy:
    """Proposes steps by sampling a local causal LM; each step ends at the step delimiter, EOS, or max_tokens.

    Generation is pooled: up to batch_size rows at a time, a finished row leaving at once and a waiting one joining.
    Reproducibility: each row samples from its own generator, seeded from its request's seed and its sample index,
    so a request's samples do not depend on the request order nor on the other requests of the call. Rows are
    pooled in seed order, so the same requests in any order share the same batches; in other company a row's
    logits may differ in the last bits (batched numerics), which can, rarely, change a token.
    """

    def __init__(self, config: TransformersPolicyConfig, domain: Domain | None = None):
        if config.batch_size < 1:
            raise ValueError(f"{SECTION}.batch_size: must be at least 1")
        config, self.delimiter = sampling_config(config, domain, SECTION)
        self.config = config
        set_threads(config.threads)
        self.tokenizer, self.model = load_pretrained(
            AutoModelForCausalLM, config.model, config.device, config.dtype, SECTION
        )
        self.tokenizer.padding_side = "left"
        self.context = context_length(self.model, self.tokenizer)
        self.prompts = PromptBuilder(domain, chat_renderer(self.tokenizer), self.delimiter)
        self.eos_ids = _token_ids(self.model.generation_config.eos_token_id) | _token_ids(self.tokenizer.eos_token_id)
        # Only this config's sampling settings apply: a checkpoint's defaults (top_k, repetition_penalty, ...) would
        # silently change the distribution the search samples from, and the other backends would not apply them.
        c = config
        self.step_generation = self._decoding(c.temperature, c.top_p, c.max_tokens, (self.delimiter,))
        self.rollout_generation = self._decoding(c.temperature, c.top_p, c.rollout_max_tokens, ())

    def _decoding(self, temperature: float, top_p: float, max_tokens: int, stop: tuple[str, ...]) -> _Decoding:
        sampler = Sampler(temperature=temperature, top_p=top_p, logprobs=True)
        return _Decoding(sampler, max_tokens, _Stop(self.tokenizer, self.eos_ids, stop))

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        return self._requests(requests, self.step_generation, self._proposal)

    def rollout(self, requests: list[ExpandRequest]) -> list[list[Rollout]]:
        """Continuations to the end of the solution (EOS or rollout_max_tokens), each split into its steps."""
        return self._requests(requests, self.rollout_generation, self._steps)

    def generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
        """One text per prompt, sampled like steps, each with its own seed; each stops where the model's context
        ends (a ValueError for prompts that leave no room, as vLLM's)."""
        if self.context is not None:
            lengths = prompt_lengths(self.tokenizer, prompts, sampling.chat)
            too_long = [i for i, length in enumerate(lengths) if length >= self.context]
            if too_long:
                raise ValueError(f"{SECTION}: prompts {too_long} leave no room for a token in context {self.context}")
        stop = sampling.stop
        generation = self._decoding(sampling.temperature, sampling.top_p, sampling.max_tokens, stop)
        texts = [model_text(self.tokenizer, p, sampling.chat) for p in prompts]
        seeds = prompt_seeds(prompts, sampling.seed)
        out = self._sample(texts, [1] * len(texts), seeds, generation, lambda ids, _: self._text(ids, stop))
        return [text for (text,) in out]

    def _requests(self, requests: list[ExpandRequest], generation: _Decoding, read: Callable) -> list[list]:
        prompts = [self.prompts.prompt(r) for r in requests]
        return self._sample(prompts, [r.n for r in requests], [r.seed for r in requests], generation, read)

    def _sample(
        self, prompts: list[str], counts: list[int], seeds: list[int], generation: _Decoding, read: Callable
    ) -> list[list]:
        """counts[i] samples of prompts[i], each read from (token ids, log-probabilities) by `read`. No row asks for
        more tokens than the model's context leaves its prompt; a prompt that leaves none generates nothing (([],
        []): a step cut off at the limit, a dead node)."""
        # Each prompt becomes n rows, each sampled once: prompts with different n share the pool, and no sample is
        # generated only to be thrown away.
        order = sorted(range(len(prompts)), key=lambda i: (seeds[i], i))
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        room = self._room([len(p) for p in ids], generation.max_tokens)
        rows = {
            (i, k): Row(ids[i], room[i], generation.stop, self._generator(seeds[i], k))
            for i in order
            for k in range(counts[i])
            if room[i] > 0
        }
        if rows:
            with torch.inference_mode():
                pooled(self.model, self.tokenizer, list(rows.values()), self.config.batch_size, generation.sampler)
        out: list[list] = [[] for _ in prompts]
        for i, count in enumerate(counts):
            for k in range(count):
                row = rows.get((i, k))
                out[i].append(read(row.made, row.logprobs) if row else read([], []))
        return out

    def _generator(self, seed: int, sample: int) -> torch.Generator:
        """The sampling stream of a request's sample-th row."""
        return torch.Generator(device=self.model.device).manual_seed(request_seed(mix(seed, sample)))

    def _room(self, lengths: list[int], limit: int) -> list[int]:
        """The tokens each prompt (by its length) may generate: `limit`, or what the context leaves, if less."""
        if self.context is None:
            return [limit] * len(lengths)
        return [min(limit, self.context - length) for length in lengths]

    def _proposal(self, ids: list[int], logprobs: list[float]) -> Proposal:
        """Normalizes one generated row: text without the delimiter, its token count, log-probability, and why it ended.

        The text is stripped: whitespace before the delimiter (' \\n') tokenizes differently once the child's prompt
        continues after it, and children's prompts must extend their parents' token for token.
        """
        eos = next((k for k, t in enumerate(ids) if t in self.eos_ids), None)
        ids = ids if eos is None else ids[: eos + 1]
        stop = self._delimiter_end(ids)
        if stop is not None:
            ids = ids[:stop]
            text = self._decode(ids)
            text = text[: text.index(self.delimiter)]
        else:
            text = self._decode(ids)
        reason = "stop" if stop is not None or eos is not None else "length"
        return Proposal(text=text.strip(), tokens=len(ids), logprob=sum(logprobs[: len(ids)]), finish_reason=reason)

    def _steps(self, ids: list[int], logprobs: list[float]) -> Rollout:
        """The steps of a rollout; its tokens up to and including the EOS."""
        eos = next((k for k, t in enumerate(ids) if t in self.eos_ids), len(ids) - 1)
        return Rollout(split_steps(self._until_eos(ids), self.delimiter), eos + 1)

    def _text(self, ids: list[int], stop: tuple[str, ...]) -> str:
        """A generated text without EOS, cut before the first stop string (the row keeps it)."""
        return cut_at_stop(self._until_eos(ids), stop)

    def _until_eos(self, ids: list[int]) -> str:
        eos = next((k for k, t in enumerate(ids) if t in self.eos_ids), len(ids))
        return self._decode(ids[:eos])

    def _delimiter_end(self, ids: list[int]) -> int | None:
        """How many tokens it takes to complete the first delimiter (binary search over decoded prefixes), or None.

        A row keeps the stop string, and the token that completes it may carry more text after it.
        """
        delimiter = self.delimiter
        if delimiter not in self._decode(ids):
            return None
        low, high = 1, len(ids)
        while low < high:
            middle = (low + high) // 2
            if delimiter in self._decode(ids[:middle]):
                high = middle
            else:
                low = middle + 1
        return low

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
