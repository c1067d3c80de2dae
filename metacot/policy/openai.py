"""Any OpenAI-compatible completions server as the policy: a round's requests sent concurrently, with retries."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from metacot.policy.base import ExpandRequest, Proposal
from metacot.policy.prompts import PromptBuilder, chat_renderer
from metacot.policy.vllm import check_sampling, proposal, request_seed
from metacot.problems.base import Domain

SECTION = "policy.openai"

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class OpenAIPolicyConfig:
    base_url: str = "http://127.0.0.1:8000/v1"  # the API root, as the openai client takes it (vLLM: ending in /v1)
    model: str = ""  # the served model name; also the tokenizer's folder when `tokenizer` is empty
    # A local folder with the model's tokenizer: its chat template builds the prompts on this side, exactly as
    # the other policies do, and the server continues them through /v1/completions.
    tokenizer: str = ""
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable that holds the key (never the key itself)
    timeout: float = 60.0  # seconds per HTTP request
    max_retries: int = 3  # per request, on 429, 5xx and connection errors
    backoff: float = 0.5  # seconds before the first retry; doubled before each next one
    concurrency: int = 16  # requests in flight at once
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 32  # per step: a step cut off here has finish_reason "length" and becomes a dead node
    step_delimiter: str = "\n"


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


def without_bos(prompt: str, tokenizer: Any) -> str:
    """The prompt less a leading BOS when the chat template wrote one: the server's tokenizer adds its own."""
    bos = tokenizer.bos_token
    adds_bos = bos is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
    return prompt[len(bos) :] if adds_bos and prompt.startswith(bos) else prompt


class OpenAIPolicy:
    """Proposes steps through /v1/completions: one HTTP request per expansion request (its prompt, n, seed),
    up to `concurrency` at a time. The server strips the stop string, as vLLM does.

    The prompt text is built here with the tokenizer's chat template (`tokenizer`, else `model`, as a local
    folder). Start a vLLM server with `--generation-config vllm` so that the checkpoint's sampling defaults
    (top_k, repetition penalty, ...) do not change what the search samples from.
    """

    def __init__(self, config: OpenAIPolicyConfig, domain: Domain):
        check_sampling(config.temperature, config.top_p, config.max_tokens, config.step_delimiter, SECTION)
        if config.concurrency < 1:
            raise ValueError(f"{SECTION}.concurrency: must be at least 1, got {config.concurrency}")
        setting = f"{SECTION}.tokenizer" if config.tokenizer else f"{SECTION}.model"
        self.tokenizer = load_tokenizer(config.tokenizer or config.model, setting)
        self.config = config
        self.prompts = PromptBuilder(domain, chat_renderer(self.tokenizer), config.step_delimiter)
        self.server = Server(
            SECTION, config.base_url, config.api_key_env, config.timeout, config.max_retries, config.backoff
        )
        self.server.check_model(config.model)
        self.pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="metacot-openai")

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        return list(self.pool.map(self._one, requests))

    def _one(self, request: ExpandRequest) -> list[Proposal]:
        c = self.config
        prompt = without_bos(self.prompts.prompt(request), self.tokenizer)
        completion = self.server.call(
            lambda: self.server.client.completions.create(
                model=c.model,
                prompt=prompt,
                n=request.n,
                stop=[c.step_delimiter],
                temperature=c.temperature,
                top_p=c.top_p,
                max_tokens=c.max_tokens,
                logprobs=0,  # only the sampled tokens': their count and summed log-probability
                seed=request_seed(request.seed),
            )
        )
        return [self._proposal(choice) for choice in sorted(completion.choices, key=lambda ch: ch.index)]

    @staticmethod
    def _proposal(choice: Any) -> Proposal:
        lp = choice.logprobs
        tokens = len(lp.tokens) if lp is not None and lp.tokens is not None else 0
        logprob = sum(lp.token_logprobs) if lp is not None and lp.token_logprobs is not None else None
        return proposal(choice.text, tokens, logprob, choice.finish_reason, SECTION)
