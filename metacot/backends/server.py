"""An OpenAI-compatible server, or several copies, through the official client: retries, failover, safe errors."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

from metacot.backends.latency import Latency
from metacot.backends.rotation import Endpoint, Rotation, base_urls
from metacot.backends.secrets import redact, safe_url, url_secrets
from metacot.backends.silence import HUNG_AFTER, Silence
from metacot.checks import at_least, between
from metacot.stop import pause, until_stopped

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RETRY_AFTER = 60.0  # seconds: the longest wait a server's Retry-After header gets
LONGEST_WAIT = 86400.0  # seconds (a day): the most a timeout, backoff or cool-down may be (more would overflow a timer)
# What OpenAI ("context_length_exceeded") and vLLM say in a 400 for a prompt longer than the model's context.
CONTEXT_LENGTH = re.compile(r"context_length_exceeded|maximum context length|longer than the maximum model length")


class ContextLengthError(RuntimeError):
    """The server refused a prompt as longer than the model's context (HTTP 400): no retry can help."""


class ServerSettings(Protocol):
    """The config fields a server client is built from (the OpenAI policy's and the HTTP PRM's sections)."""

    base_url: str | list[str]
    api_key_env: str
    timeout: float
    max_retries: int
    backoff: float
    cooldown: float


def check_transport(config: ServerSettings) -> None:
    """The settings of how a server is reached: at least one URL, timeout above 0, max_retries, backoff and cooldown
    at least 0."""
    if not base_urls(config.base_url):
        raise ValueError(f"base_url: needs at least one URL, got {config.base_url!r}")
    between("timeout", config.timeout, 0, LONGEST_WAIT)
    if config.timeout == 0:
        raise ValueError(f"timeout: must be above 0 seconds, got {config.timeout!r}")
    at_least("max_retries", config.max_retries, 0)
    between("backoff", config.backoff, 0, LONGEST_WAIT)
    between("cooldown", config.cooldown, 0, LONGEST_WAIT)


class ServerFailed(RuntimeError):
    """One server failed a request after its retries, or at once by a connection error or timeout when other
    servers may take the request: it leaves the rotation for the cool-down."""


class Server:
    """An OpenAI-compatible server, or several copies of it, through the official client: requests spread by
    least outstanding requests, retries with exponential backoff, a failing server out of rotation for a cool-down,
    a hung one (HUNG_AFTER timeouts in a row while it answered nothing) failing requests at once for max(cooldown,
    timeout) seconds, an attempt far slower than the server's latest replies sent once more beside (Latency), and
    errors that name the settings but never carry the API key. Every attempt and retry wait ends as soon as the
    process is stopping (metacot.stop)."""

    def __init__(
        self,
        section: str,
        base_url: str | list[str],
        api_key_env: str,
        timeout: float,
        max_retries: int,
        backoff: float,
        cooldown: float = 30.0,
    ):
        if max_retries < 0 or backoff < 0 or timeout <= 0 or cooldown < 0:
            raise ValueError(f"{section}: need max_retries >= 0, backoff >= 0, cooldown >= 0 and timeout > 0")
        urls = base_urls(base_url)
        if not urls:
            raise ValueError(f"{section}.base_url: no URL in {base_url!r}")
        import openai

        self.section, self.base_url = section, ", ".join(safe_url(url) for url in urls)  # for messages
        self.max_retries, self.backoff, self.timeout = max_retries, backoff, timeout
        self.silence = Silence(max(cooldown, timeout))  # retrying a hung server sooner than a timeout tells nothing
        self.latency = Latency()
        self.openai = openai
        key = os.environ.get(api_key_env)
        # what no error text may carry: a server may echo the request's Authorization header in its error body
        self.secrets = [key or "", *(secret for url in urls for secret in url_secrets(url))]
        api_key = key or "EMPTY"  # a local server started without --api-key accepts any key; the client needs one
        endpoints = [
            Endpoint(i, safe_url(url), openai.OpenAI(base_url=url, api_key=api_key, timeout=timeout, max_retries=0))
            for i, url in enumerate(urls)
        ]
        self.rotation = Rotation(section, endpoints, cooldown)
        self.api_key_env = api_key_env

    @classmethod
    def from_settings(cls, section: str, settings: ServerSettings) -> Server:
        s = settings
        return cls(section, s.base_url, s.api_key_env, s.timeout, s.max_retries, s.backoff, s.cooldown)

    @property
    def endpoints(self) -> list[Endpoint]:
        return self.rotation.endpoints

    def check_model(self, model: str, models_path: str = "/models") -> None:
        """One attempt per server, no retries: a ValueError naming the setting when a server refuses the key or
        does not serve the model; a server that does not answer starts out of rotation, and a ConnectionError
        naming base_url when none answers."""
        unreachable = []
        for endpoint in self.endpoints:
            try:
                self._check_model(endpoint, model, models_path)
            except ConnectionError as error:
                unreachable.append(str(error))
                self.rotation.take_out(endpoint, str(error))
        if len(unreachable) == len(self.endpoints):
            raise ConnectionError("; ".join(unreachable))

    def _check_model(self, endpoint: Endpoint, model: str, models_path: str) -> None:
        url = endpoint.url
        try:
            listing = endpoint.client.get(models_path, cast_to=object)
        except self.openai.APIConnectionError as e:
            raise ConnectionError(f"{self.section}.base_url: no server answers at {url}: {self._reason(e)}") from None
        except self.openai.APIStatusError as e:
            if e.status_code in (401, 403):
                raise ValueError(
                    f"{self.section}.api_key_env: the server at {url} refused the key in ${self.api_key_env}"
                ) from None
            raise ConnectionError(f"{self.section}.base_url: {url}{models_path}: {self._reason(e)}") from None
        served = [m.get("id") for m in listing.get("data", [])] if isinstance(listing, dict) else []
        if model not in served:
            raise ValueError(f"{self.section}.model: {model!r} is not served at {url} (it serves {served})")

    def call(self, fn: Callable[[Any], T]) -> T:
        """fn(client) on the server in rotation with the fewest outstanding requests, retried there on 429, 5xx,
        connection errors and malformed replies after backoff, 2 x backoff, ... seconds, or after what the server's
        Retry-After header asks (at most MAX_RETRY_AFTER). A server that fails the request (its retries spent, or at
        once on a connection error or timeout while another server is left to try) leaves the rotation for the
        cool-down and the request moves to the next server; it fails only when every server failed it.
        ContextLengthError for a 400 that says the prompt is too long; RuntimeError for any other failure."""
        tried: set[int] = set()
        failures: list[str] = []
        while True:
            with self.rotation.attempt(tried) as endpoint:
                if endpoint is None:
                    raise RuntimeError(f"{self.section}: {'; '.join(failures)}")
                tried.add(endpoint.index)
                try:
                    result = self._attempts(endpoint, fn, alone=len(tried) == len(self.endpoints))
                except ServerFailed as error:
                    failures.append(str(error))
                    self.rotation.take_out(endpoint, str(error))
                    continue
                self.rotation.answered(endpoint)
                return result

    def _attempts(self, endpoint: Endpoint, fn: Callable[[Any], T], alone: bool) -> T:
        """fn(endpoint.client), retried on one server; ServerFailed when it fails the request (see call), at once
        on a connection error unless this is the last server the request may try (`alone`)."""
        attempt = 0
        failures = (
            self.openai.APIConnectionError,
            self.openai.APIStatusError,
            self.openai.APIResponseValidationError,
            json.JSONDecodeError,
        )
        while True:
            self._unless_hung()
            sent = time.monotonic()
            try:
                result = until_stopped(lambda: fn(endpoint.client), self.latency.hedge_after())
            except failures as e:
                self._heard(e, sent)
                tries = f" after {attempt + 1} attempts" if attempt else ""
                what = f"request to {endpoint.url} failed{tries}: {self._reason(e)}"
                if not self._retryable(e):
                    kind = ContextLengthError if _too_long(e) else RuntimeError
                    raise kind(f"{self.section}: {what}") from None
                if attempt == self.max_retries or (not alone and isinstance(e, self.openai.APIConnectionError)):
                    raise ServerFailed(what) from None
                delay = _retry_after(e)
                if delay is None:
                    delay = min(self.backoff * 2.0 ** min(attempt, 64), LONGEST_WAIT)
                attempt += 1
                log.warning(
                    "%s: %s; retry %d of %d in %.2f s", self.section, self._reason(e), attempt, self.max_retries, delay
                )
                pause(delay)
            else:
                self.silence.replied()
                self.latency.replied(time.monotonic() - sent)
                return result

    def _heard(self, error: Exception, sent: float) -> None:
        """Tell the silence watch what a failed attempt (sent at `sent`) says of the server: a timeout, a reply, or
        neither."""
        if isinstance(error, self.openai.APITimeoutError):
            self.silence.timed_out(sent)
        elif not isinstance(error, self.openai.APIConnectionError):
            self.silence.replied()

    def _unless_hung(self) -> None:
        """A RuntimeError, before any attempt, while the servers are taken for hung (see Silence)."""
        timeouts = self.silence.hung()
        if timeouts:
            raise RuntimeError(
                f"{self.section}: no reply from {self.base_url}: {timeouts} requests in a row timed out "
                f"({self.timeout:g} s each; at {HUNG_AFTER}, requests fail at once for {self.silence.pause:g} s)"
            )

    def _reason(self, error: Exception) -> str:
        """What went wrong (see _reason), with the API key and the URLs' credentials hidden: a gateway may echo the
        Authorization header in its error body."""
        return redact(_reason(error), self.secrets)

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
