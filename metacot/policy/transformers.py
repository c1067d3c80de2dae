"""A local Hugging Face causal LM as the policy: one batched, seeded `generate` per chunk of requests or prompts."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import (
    AutoModelForCausalLM,
    GenerationConfig,
    LogitsProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
    StopStringCriteria,
)

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


class _ChosenLogprobs(LogitsProcessor):
    """Records each sampled token's log-probability under the model's raw distribution (before temperature, top-p).

    Keeping one step's log-softmax instead of asking generate for every step's scores keeps memory at
    rows x vocab rather than rows x vocab x max_tokens.
    """

    def __init__(self) -> None:
        self.previous: torch.Tensor | None = None
        self.chosen: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.previous is not None:
            self.chosen.append(self.previous.gather(1, input_ids[:, -1:]))
        self.previous = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def table(self, generated: torch.Tensor) -> list[list[float]]:
        """Per row, the log-probability of each generated token."""
        if len(self.chosen) < generated.shape[1] and self.previous is not None:
            self.chosen.append(self.previous.gather(1, generated[:, -1:]))
        return torch.cat(self.chosen, dim=1).tolist()


class _RoomLeft(StoppingCriteria):
    """Ends each row once it has generated the tokens its prompt leaves in the model's context (`room`, one per
    row): rows of one generate call share max_new_tokens, but not their prompts' lengths."""

    def __init__(self, start: int, room: list[int], device: torch.device):
        self.start, self.room = start, torch.tensor(room, device=device)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object) -> torch.BoolTensor:
        return input_ids.shape[1] - self.start >= self.room  # type: ignore[return-value]


def context_length(model: object, tokenizer: object) -> int | None:
    """The most tokens (prompt and generated) the model reads: the least of its config's position limit and the
    tokenizer's model_max_length; None when neither says (transformers' "unknown" sentinel is a huge number)."""
    config = getattr(model, "config", None)
    known = [getattr(config, name, None) for name in ("max_position_embeddings", "n_positions")]
    known.append(getattr(tokenizer, "model_max_length", None))
    limits = [n for n in known if type(n) is int and 0 < n < _UNKNOWN_LENGTH]
    return min(limits) if limits else None


_UNKNOWN_LENGTH = 10**12  # transformers writes int(1e30) for a tokenizer that does not know its model's length


class _PaddedLengthWarning(logging.Filter):
    """Drops transformers' reminder that a generate call "exceeded the model's predefined maximum length": it counts
    the left padding, but positions come from the attention mask, and _RoomLeft ends each row inside the context."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "exceeded the model's predefined maximum length" not in record.getMessage()


logging.getLogger("transformers.generation.stopping_criteria").addFilter(_PaddedLengthWarning())


@dataclass(frozen=True)
class _Decoding:
    """How one kind of text is generated: the sampling settings, and the stopping criteria for its stop strings."""

    config: GenerationConfig
    stopping: StoppingCriteriaList


class TransformersPolicy:
    """Proposes steps by sampling a local causal LM; each step ends at the step delimiter, EOS, or max_tokens.

    Reproducibility: requests are put in seed order, cut into chunks of at most batch_size sequences, and each
    chunk's sampling is seeded from its requests' seeds. So the same requests, in any order, with the same
    config give the same proposals on the same device and library versions. A request's proposals DO depend
    on which other requests share its chunk (one sampling stream per chunk; padding changes numerics slightly).
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
        self._stopping: dict[tuple[str, ...], StoppingCriteriaList] = {}
        c = config
        self.step_generation = self._decoding(c.temperature, c.top_p, c.max_tokens, (self.delimiter,))
        self.rollout_generation = self._decoding(c.temperature, c.top_p, c.rollout_max_tokens, ())

    def _decoding(self, temperature: float, top_p: float, max_new_tokens: int, stop: tuple[str, ...]) -> _Decoding:
        sample = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}
        config = GenerationConfig(
            **(sample if temperature > 0 else {"do_sample": False}),
            max_new_tokens=max_new_tokens,
            eos_token_id=sorted(self.eos_ids),
            pad_token_id=self.tokenizer.pad_token_id,
            return_dict_in_generate=True,
        )
        return _Decoding(config, self._stopping_on(stop))

    def _stopping_on(self, stop: tuple[str, ...]) -> StoppingCriteriaList:
        """The criterion that ends a row at any of the stop strings, built once per set of them.

        Not `stop_strings` in the GenerationConfig: from those, transformers builds a new StopStringCriteria inside
        every generate call, reading, sorting and hashing the whole vocabulary each time (about 1 s at 151k tokens).
        The criterion holds no state between calls, so one instance serves them all.
        """
        if stop not in self._stopping:
            criteria = [StopStringCriteria(self.tokenizer, list(stop))] if stop else []
            self._stopping[stop] = StoppingCriteriaList(criteria)
        return self._stopping[stop]

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        return self._requests(requests, self.step_generation, self._proposal)

    def rollout(self, requests: list[ExpandRequest]) -> list[list[Rollout]]:
        """Continuations to the end of the solution (EOS or rollout_max_tokens), each split into its steps."""
        return self._requests(requests, self.rollout_generation, self._steps)

    def generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
        """One text per prompt, sampled like steps: in seed order, one seeded generate call per chunk; each stops
        where the model's context ends (a ValueError for prompts that leave no room, as vLLM's)."""
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
        """counts[i] samples of prompts[i], each read from (token ids, log-probabilities) by `read`."""
        # Each prompt becomes n rows and the model samples once per row: unlike num_return_sequences (one n for
        # the whole call), prompts with different n share one generate call, and no sample is generated only to
        # be thrown away. The compute is the same: generate repeats the prompts n times internally too.
        order = sorted(range(len(prompts)), key=lambda i: (seeds[i], i))
        rows = [i for i in order for _ in range(counts[i])]
        out: list[list] = [[] for _ in prompts]
        size = self.config.batch_size
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            seed = mix(0, *(seeds[i] for i in dict.fromkeys(chunk)))
            samples = self._generate([prompts[i] for i in chunk], seed, generation)
            for i, (ids, logprobs) in zip(chunk, samples, strict=True):
                out[i].append(read(ids, logprobs))
        return out

    def _generate(self, prompts: list[str], seed: int, generation: _Decoding) -> list[tuple[list, list]]:
        """(generated token ids, their log-probabilities) per prompt, from one seeded generate call. No prompt asks
        for more tokens than the model's context leaves it; one that leaves none generates nothing (([], []): a
        step cut off at the limit, a dead node)."""
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        room = self._room(lengths, generation.config.max_new_tokens)
        fits = [i for i, r in enumerate(room) if r > 0]
        out: list[tuple[list, list]] = [([], []) for _ in prompts]
        if not fits:
            return out
        width = max(lengths[i] for i in fits)  # the padding that only rows left out needed goes too
        rows = {key: batch[key][fits, -width:].to(self.model.device) for key in ("input_ids", "attention_mask")}
        room = [room[i] for i in fits]
        config, stopping = generation.config, generation.stopping
        if max(room) < config.max_new_tokens:
            config = copy.copy(config)
            config.max_new_tokens = max(room)
        if min(room) < max(room):
            stopping = StoppingCriteriaList([*stopping, _RoomLeft(width, room, self.model.device)])
        logprobs = _ChosenLogprobs()
        with torch.inference_mode(), torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(request_seed(seed))
            output = self.model.generate(
                **rows,
                generation_config=config,
                logits_processor=[logprobs],
                stopping_criteria=stopping,
            )
        generated = output.sequences[:, width:]
        for i, left, ids, chosen in zip(fits, room, generated.tolist(), logprobs.table(generated), strict=True):
            out[i] = (ids[:left], chosen[:left])  # a row stopped at its room is padded after it
        return out

    def _room(self, lengths: list[int], limit: int) -> list[int]:
        """The tokens each prompt (by its length) may generate: `limit`, or what the context leaves, if less."""
        if self.context is None:
            return [limit] * len(lengths)
        return [min(limit, self.context - length) for length in lengths]

    def _rng_devices(self) -> list[int]:
        device = self.model.device
        return [device.index or 0] if device.type == "cuda" else []

    def _proposal(self, ids: list[int], logprobs: list[float]) -> Proposal:
        """Normalizes one generated row: text without the delimiter, its token count, log-probability, and why it ended.

        The text is stripped: whitespace before the delimiter (' \\n') tokenizes differently once the child's prompt
        continues after it, and children's prompts must extend their parents' token for token.
        """
        eos = next((k for k, t in enumerate(ids) if t in self.eos_ids), None)
        ids = ids if eos is None else ids[: eos + 1]  # after EOS come only pad tokens
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
        """The steps of a rollout; its tokens up to and including the EOS (the padding after it is no output)."""
        eos = next((k for k, t in enumerate(ids) if t in self.eos_ids), len(ids) - 1)
        return Rollout(split_steps(self._until_eos(ids), self.delimiter), eos + 1)

    def _text(self, ids: list[int], stop: tuple[str, ...]) -> str:
        """A generated text without EOS and what follows, cut before the first stop string (generate keeps it)."""
        return cut_at_stop(self._until_eos(ids), stop)

    def _until_eos(self, ids: list[int]) -> str:
        eos = next((k for k, t in enumerate(ids) if t in self.eos_ids), len(ids))
        return self._decode(ids[:eos])

    def _delimiter_end(self, ids: list[int]) -> int | None:
        """How many tokens it takes to complete the first delimiter (binary search over decoded prefixes), or None.

        transformers keeps the stop string, and the token that completes it may carry more text after it.
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
