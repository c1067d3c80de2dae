"""Any OpenAI-compatible completions server as the policy: a round's requests sent concurrently, with retries."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from metacot.policy.base import ExpandRequest, Proposal
from metacot.policy.config import OpenAIPolicyConfig
from metacot.policy.llm import proposal, request_seed, sampling_config, split_steps
from metacot.policy.prompts import PromptBuilder, chat_renderer
from metacot.problems.base import Domain

SECTION = "policy.openai"

log = logging.getLogger(__name__)
T = TypeVar("T")


class Server:
    """An OpenAI-compatible server through the official client: retries with exponential backoff, and errors
    that name the settings but never carry the API key."""

    def __init__(self, section: str, base_url: str, api_key_env: str, timeout: float, max_retries: int, backoff: float):
        if max_retries < 0 or backoff < 0 or timeout <= 0:
            raise ValueError(f"{section}: need max_retries >= 0, backoff >= 0 and timeout > 0")
        import openai

        self.section, self.base_url = section, base_url
        self.max_retries, self.backoff = max_retries, backoff
        self.openai = openai
        # A local server started without --api-key accepts any key, but the client insists on one.
        api_key = os.environ.get(api_key_env) or "EMPTY"
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
        self.api_key_env = api_key_env

    def check_model(self, model: str, models_path: str = "/models") -> None:
        """One attempt, no retries: a ConnectionError naming base_url when nothing answers there, a ValueError
        naming the setting when the key is refused or the model is not served."""
        try:
            listing = self.client.get(models_path, cast_to=object)
        except self.openai.APIConnectionError as e:
            raise ConnectionError(
                f"{self.section}.base_url: no server answers at {self.base_url}: {_reason(e)}"
            ) from None
        except self.openai.APIStatusError as e:
            if e.status_code in (401, 403):
                raise ValueError(
                    f"{self.section}.api_key_env: the server at {self.base_url} refused the key in ${self.api_key_env}"
                ) from None
            raise ConnectionError(f"{self.section}.base_url: {self.base_url}{models_path}: {_reason(e)}") from None
        served = [m.get("id") for m in listing.get("data", [])] if isinstance(listing, dict) else []
        if model not in served:
            raise ValueError(f"{self.section}.model: {model!r} is not served at {self.base_url} (it serves {served})")

    def call(self, fn: Callable[[], T]) -> T:
        """fn(), retried on 429, 5xx and connection errors after backoff, 2 x backoff, ... seconds."""
        attempt = 0
        while True:
            try:
                return fn()
            except (self.openai.APIConnectionError, self.openai.APIStatusError) as e:
                if not self._retryable(e) or attempt == self.max_retries:
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    raise RuntimeError(
                        f"{self.section}: request to {self.base_url} failed{tries}: {_reason(e)}"
                    ) from None
                delay = self.backoff * 2**attempt
                attempt += 1
                log.warning(
                    "%s: %s; retry %d of %d in %.2f s", self.section, _reason(e), attempt, self.max_retries, delay
                )
                time.sleep(delay)

    def _retryable(self, error: Exception) -> bool:
        if isinstance(error, self.openai.APIConnectionError):
            return True
        return error.status_code == 429 or error.status_code >= 500


def _reason(error: Exception) -> str:
    """What went wrong, in a line: the HTTP status and message, or the connection error and its cause."""
    status = getattr(error, "status_code", None)
    if status is not None:
        return f"HTTP {status}: {getattr(error, 'message', error)}"
    cause = error.__cause__ or error.__context__
    return f"{error} ({cause})" if cause else str(error)


def load_tokenizer(folder: str, setting: str) -> Any:
    """A tokenizer from a local folder; a ValueError naming the setting otherwise."""
    if not folder or not Path(folder).is_dir():
        raise ValueError(f"{setting}: need a local folder with the model's tokenizer, got '{folder}'")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as e:
        raise ValueError(f"{setting}: cannot load a tokenizer from '{folder}': {e}") from None


def added_bos(tokenizer: Any) -> str:
    """The BOS text that the tokenizer adds when it encodes text (the server's tokenizer adds it too), or ""."""
    bos = tokenizer.bos_token
    return bos if bos is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id] else ""


class OpenAIPolicy:
    """Proposes steps through /v1/completions: one HTTP request per expansion request (its prompt, n, seed),
    up to `concurrency` at a time. The server strips the stop string, as vLLM does.

    The prompt text is built here with the tokenizer's chat template (`tokenizer`, else `model`, as a local
    folder). Start a vLLM server with `--generation-config vllm`, so that the checkpoint's sampling defaults
    (top_k, repetition penalty, ...) do not change what the search samples from, and on CPUs with
    `--no-enable-chunked-prefill` (see VLLMPolicyConfig.enable_chunked_prefill).
    """

    def __init__(self, config: OpenAIPolicyConfig, domain: Domain):
        config = sampling_config(config, domain, SECTION)
        if config.concurrency < 1:
            raise ValueError(f"{SECTION}.concurrency: must be at least 1, got {config.concurrency}")
        setting = f"{SECTION}.tokenizer" if config.tokenizer else f"{SECTION}.model"
        self.tokenizer = load_tokenizer(config.tokenizer or config.model, setting)
        self.config = config
        self.prompts = PromptBuilder(domain, chat_renderer(self.tokenizer), config.step_delimiter)
        self.bos = added_bos(self.tokenizer)
        self.server = Server(
            SECTION, config.base_url, config.api_key_env, config.timeout, config.max_retries, config.backoff
        )
        self.server.check_model(config.model)
        self.pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="metacot-openai")

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        c = self.config
        return [
            [self._proposal(choice) for choice in choices]
            for choices in self._complete(requests, c.max_tokens, [c.step_delimiter])
        ]

    def rollout(self, requests: list[ExpandRequest]) -> list[list[list[str]]]:
        """Continuations to the end of the solution (EOS or rollout_max_tokens), each split into its steps."""
        delimiter = self.config.step_delimiter
        return [
            [split_steps(choice.text, delimiter) for choice in choices]
            for choices in self._complete(requests, self.config.rollout_max_tokens, None)
        ]

    def _complete(self, requests: list[ExpandRequest], max_tokens: int, stop: list[str] | None) -> list[list[Any]]:
        """Each request's n choices in sample order, one HTTP request per expansion request, run concurrently.
        Prompts are built here, not in the pool's threads: a fast tokenizer is not safe to share between threads."""
        prompts = [self._prompt(r) for r in requests]
        return list(self.pool.map(lambda r, p: self._one(r, p, max_tokens, stop), requests, prompts))

    def _prompt(self, request: ExpandRequest) -> str:
        """The shared prompt, less a leading BOS that the chat template wrote: the server adds its own."""
        prompt = self.prompts.prompt(request)
        return prompt[len(self.bos) :] if self.bos and prompt.startswith(self.bos) else prompt

    def _one(self, request: ExpandRequest, prompt: str, max_tokens: int, stop: list[str] | None) -> list[Any]:
        c = self.config
        stop_setting = {"stop": stop} if stop else {}
        completion = self.server.call(
            lambda: self.server.client.completions.create(
                model=c.model,
                prompt=prompt,
                n=request.n,
                temperature=c.temperature,
                top_p=c.top_p,
                max_tokens=max_tokens,
                logprobs=0,  # only the sampled tokens': their count and summed log-probability
                seed=request_seed(request.seed),
                **stop_setting,
            )
        )
        return sorted(completion.choices, key=lambda choice: choice.index)

    @staticmethod
    def _proposal(choice: Any) -> Proposal:
        lp = choice.logprobs
        tokens = len(lp.tokens) if lp is not None and lp.tokens is not None else 0
        logprob = sum(lp.token_logprobs) if lp is not None and lp.token_logprobs is not None else None
        return proposal(choice.text, tokens, logprob, choice.finish_reason, SECTION)
