"""An OpenAI-compatible server through the official client: retries with exponential backoff, secret-free errors."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RETRY_AFTER = 60.0  # seconds: the longest wait a server's Retry-After header gets
# What OpenAI ("context_length_exceeded") and vLLM say in a 400 for a prompt longer than the model's context.
CONTEXT_LENGTH = re.compile(r"context_length_exceeded|maximum context length|longer than the maximum model length")


class ContextLengthError(RuntimeError):
    """The server refused a prompt as longer than the model's context (HTTP 400): no retry can help."""


class ServerSettings(Protocol):
    """The config fields a server client is built from (the OpenAI policy's and the HTTP PRM's sections)."""

    base_url: str
    api_key_env: str
    timeout: float
    max_retries: int
    backoff: float


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

    @classmethod
    def from_settings(cls, section: str, settings: ServerSettings) -> Server:
        s = settings
        return cls(section, s.base_url, s.api_key_env, s.timeout, s.max_retries, s.backoff)

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
        """fn(), retried on 429, 5xx, connection errors and malformed replies after backoff, 2 x backoff, ...
        seconds, or after what the server's Retry-After header asks (at most MAX_RETRY_AFTER). ContextLengthError
        for a 400 that says the prompt is too long; RuntimeError for any other failure."""
        attempt = 0
        failures = (
            self.openai.APIConnectionError,
            self.openai.APIStatusError,
            self.openai.APIResponseValidationError,
            json.JSONDecodeError,
        )
        while True:
            try:
                return fn()
            except failures as e:
                if not self._retryable(e) or attempt == self.max_retries:
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    kind = ContextLengthError if _too_long(e) else RuntimeError
                    raise kind(f"{self.section}: request to {self.base_url} failed{tries}: {_reason(e)}") from None
                delay = _retry_after(e)
                if delay is None:
                    delay = self.backoff * 2**attempt
                attempt += 1
                log.warning(
                    "%s: %s; retry %d of %d in %.2f s", self.section, _reason(e), attempt, self.max_retries, delay
                )
                time.sleep(delay)

    def _retryable(self, error: Exception) -> bool:
        """429, 5xx, a connection error or timeout, a reply that is not the JSON asked for (cut short)."""
        if isinstance(error, self.openai.APIStatusError):
            return error.status_code == 429 or error.status_code >= 500
        return True


def _too_long(error: Exception) -> bool:
    """Whether an error is an HTTP 400 for a prompt longer than the model's context."""
    if getattr(error, "status_code", None) != 400:
        return False
    body: Any = getattr(error, "body", None)
    code = body.get("code") if isinstance(body, dict) else None
    return bool(CONTEXT_LENGTH.search(f"{code} {getattr(error, 'message', error)}"))


def _retry_after(error: Exception) -> float | None:
    """The wait a 429 or 503 reply asks for in its Retry-After header (seconds or an HTTP date), capped at
    MAX_RETRY_AFTER; None when there is none, or it cannot be read."""
    response = getattr(error, "response", None)
    if getattr(error, "status_code", None) not in (429, 503) or response is None:
        return None
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    if seconds != seconds:  # nan
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _reason(error: Exception) -> str:
    """What went wrong, in a line: the HTTP status and message, or the connection error and its cause."""
    status = getattr(error, "status_code", None)
    if isinstance(error, json.JSONDecodeError):
        return f"the reply is not valid JSON ({error})"
    if status is not None:
        return f"HTTP {status}: {getattr(error, 'message', error)}"
    cause = error.__cause__ or error.__context__
    return f"{error} ({cause})" if cause else str(error)
