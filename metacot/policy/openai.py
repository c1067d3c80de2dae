"""Any OpenAI-compatible completions server as the policy: each request sent on its own, concurrently, with retries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from metacot.backends.generate import Sampling, chat_renderer, prompt_seeds, request_seed
from metacot.backends.models import added_bos, load_tokenizer
from metacot.backends.server import ContextLengthError, Server
from metacot.policy.base import ExpandRequest, Proposal, Rollout
from metacot.policy.config import OpenAIPolicyConfig
from metacot.policy.llm import cut_off, proposal, sampling_config, split_steps
from metacot.policy.prompts import PromptBuilder
from metacot.problems.base import Domain

SECTION = "policy.openai"
log = logging.getLogger(__name__)
T = TypeVar("T")


class OpenAIPolicy:
    """Proposes steps through /v1/completions: one HTTP request per expansion request (its prompt, n, seed),
    up to `concurrency` at a time, spread over the servers of `base_url` (see metacot.backends.server). The server
    strips the stop string, as vLLM does. Each request carries its seed, so any copy of the server answers it alike.

    The prompt text is built here with the tokenizer's chat template (`tokenizer`, else `model`, as a local
    folder). Start a vLLM server with `--generation-config vllm`, so that the checkpoint's sampling defaults
    (top_k, repetition penalty, ...) do not change what the search samples from, and on CPUs with
    `--no-enable-chunked-prefill` (see VLLMPolicyConfig.enable_chunked_prefill).
    """

    def __init__(self, config: OpenAIPolicyConfig, domain: Domain | None = None):
        config, self.delimiter = sampling_config(config, domain, SECTION)
        if config.concurrency < 1:
            raise ValueError(f"{SECTION}.concurrency: must be at least 1, got {config.concurrency}")
        setting = f"{SECTION}.tokenizer" if config.tokenizer else f"{SECTION}.model"
        self.tokenizer = load_tokenizer(config.tokenizer or config.model, setting)
        self.config = config
        self.prompts = PromptBuilder(domain, chat_renderer(self.tokenizer), self.delimiter)
        self.bos = added_bos(self.tokenizer)
        self.server = Server.from_settings(SECTION, config)
        self.server.check_model(config.model)
        self.pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="metacot-openai")

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        """Each request's proposals: n, or fewer when the server sent fewer choices (the runner counts them), or
        n cut-off steps (dead nodes) when the server refused the prompt as longer than the model's context."""
        return [future.result() for future in self.submit(requests)]

    def submit(self, requests: list[ExpandRequest]) -> list[Future[list[Proposal]]]:
        """propose's answers, sent at once, each request's in its own future: one slow or retried request holds
        up only the search that waits for it (the runner hands the others their proposals as they come)."""

        def proposals(n: int, choices: list[Any] | None) -> list[Proposal]:
            return cut_off(n) if choices is None else [self._proposal(choice) for choice in choices]

        return self._sent(requests, self.config.max_tokens, [self.delimiter], proposals)

    def rollout(self, requests: list[ExpandRequest]) -> list[list[Rollout]]:
        """Continuations to the end of the solution (EOS or rollout_max_tokens), each split into its steps; empty
        ones for a prompt longer than the model's context."""
        delimiter = self.delimiter

        def rollouts(n: int, choices: list[Any] | None) -> list[Rollout]:
            return [Rollout() for _ in range(n)] if choices is None else [self._rollout(c, delimiter) for c in choices]

        return [f.result() for f in self._sent(requests, self.config.rollout_max_tokens, None, rollouts)]

    def generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
        """One text per prompt: one HTTP request per prompt (each with its own seed), run concurrently."""
        s = sampling
        # a chat prompt less the BOS its template wrote, a raw one as it is: the server adds its own BOS
        texts = [self._without_bos(self.prompts.render(p)) if s.chat else p for p in prompts]
        calls = [
            self._call(text, 1, seed, s.temperature, s.top_p, s.max_tokens, list(s.stop))
            for text, seed in zip(texts, prompt_seeds(prompts, s.seed), strict=True)
        ]
        return [choices[0].text for choices in self.pool.map(lambda call: call(), calls)]

    def _sent(
        self,
        requests: list[ExpandRequest],
        max_tokens: int,
        stop: list[str] | None,
        read: Callable[[int, list[Any] | None], T],
    ) -> list[Future[T]]:
        """One HTTP request per expansion request, run concurrently: each one's future holds read(n, its choices in
        sample order, or None when its prompt is longer than the model's context). Prompts are built here, not in
        the pool's threads: a fast tokenizer is not safe to share between threads."""
        c = self.config
        calls = [
            self._call(self._without_bos(self.prompts.prompt(r)), r.n, r.seed, c.temperature, c.top_p, max_tokens, stop)
            for r in requests
        ]
        return [
            self.pool.submit(lambda n, call: read(n, _unless_too_long(call)), r.n, call)
            for r, call in zip(requests, calls, strict=True)
        ]

    def _without_bos(self, prompt: str) -> str:
        """The prompt less a leading BOS that the chat template wrote: the server adds its own."""
        return prompt[len(self.bos) :] if self.bos and prompt.startswith(self.bos) else prompt

    def _call(
        self, prompt: str, n: int, seed: int, temperature: float, top_p: float, max_tokens: int, stop: list[str] | None
    ) -> Callable[[], list[Any]]:
        """One completions request, retried by the server client; its n choices in sample order."""

        def call() -> list[Any]:
            completion = self.server.call(
                lambda client: client.completions.create(
                    model=self.config.model,
                    prompt=prompt,
                    n=n,
                    temperature=temperature,
                    top_p=top_p,
                    max_tokens=max_tokens,
                    logprobs=0,  # only the sampled tokens': their count and summed log-probability
                    seed=request_seed(seed),
                    stop=stop or self.server.openai.omit,
                )
            )
            choices = sorted(completion.choices, key=lambda choice: choice.index)
            if len(choices) < n:
                log.warning("%s: the server sent %d choices for n = %d", SECTION, len(choices), n)
            return choices

        return call

    @staticmethod
    def _rollout(choice: Any, delimiter: str) -> Rollout:
        lp = choice.logprobs
        tokens = len(lp.tokens) if lp is not None and lp.tokens is not None else 0
        return Rollout(split_steps(choice.text, delimiter), tokens)

    @staticmethod
    def _proposal(choice: Any) -> Proposal:
        lp = choice.logprobs
        tokens = len(lp.tokens) if lp is not None and lp.tokens is not None else 0
        logprob = sum(lp.token_logprobs) if lp is not None and lp.token_logprobs is not None else None
        return proposal(choice.text, tokens, logprob, choice.finish_reason, SECTION)


def _unless_too_long(call: Callable[[], list[Any]]) -> list[Any] | None:
    """call()'s choices, or None when the server refused the prompt as longer than the model's context."""
    try:
        return call()
    except ContextLengthError as error:
        log.info("%s", error)
        return None
