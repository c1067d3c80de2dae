"""Copies of one server in rotation: the least busy takes the next request; a failing one sits out a cool-down."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

BASE_URL_HELP = "the server's URL; several (comma-separated) share the requests (openai, http)"


def base_urls(base_url: str | list[str]) -> list[str]:
    """The URLs of a base_url setting: a list, or one string with the URLs separated by commas."""
    urls = base_url.split(",") if isinstance(base_url, str) else base_url
    return [url.strip() for url in urls if url.strip()]


@dataclass
class Endpoint:
    """One server: its client, and what the rotation knows of it."""

    index: int
    url: str  # as messages show it: without credentials (the client holds the URL it uses)
    client: Any
    outstanding: int = 0  # requests on it now (an attempt, or its retries' waits)
    sent: int = 0  # requests given to it so far: among equally busy servers, the one given fewest goes first
    down_until: float = 0.0  # time.monotonic() until which it is out of rotation


class Rotation:
    """Chooses the server for each attempt of a request: of those the request has not tried, the one in rotation
    with the fewest outstanding requests (then the fewest given so far); when every one is out of rotation, the one
    whose cool-down ends first. A server taken out comes back when its cool-down ends, or as soon as a request
    succeeds on it."""

    def __init__(self, section: str, endpoints: list[Endpoint], cooldown: float):
        self.section, self.endpoints, self.cooldown = section, endpoints, cooldown
        self.lock = threading.Lock()

    @contextmanager
    def attempt(self, tried: set[int]) -> Iterator[Endpoint | None]:
        """The server for a request's next attempt (None: it tried them all), counted busy while the block runs."""
        with self.lock:
            endpoint = self._choose(tried)
            if endpoint is not None:
                endpoint.outstanding += 1
                endpoint.sent += 1
        try:
            yield endpoint
        finally:
            if endpoint is not None:
                with self.lock:
                    endpoint.outstanding -= 1

    def _choose(self, tried: set[int]) -> Endpoint | None:
        untried = [e for e in self.endpoints if e.index not in tried]
        if not untried:
            return None
        now = time.monotonic()
        up = [e for e in untried if e.down_until <= now]
        if up:
            return min(up, key=lambda e: (e.outstanding, e.sent, e.index))
        return min(untried, key=lambda e: (e.down_until, e.index))

    def take_out(self, endpoint: Endpoint, reason: str) -> None:
        """Out of rotation for the cool-down (a lone server stays: there is nothing to send its requests to)."""
        if len(self.endpoints) == 1:
            return
        with self.lock:
            endpoint.down_until = time.monotonic() + self.cooldown
        log.warning("%s: %s out of rotation for %g s: %s", self.section, endpoint.url, self.cooldown, reason)

    def answered(self, endpoint: Endpoint) -> None:
        """A request succeeded on it: in rotation, if it was out."""
        if endpoint.down_until:
            with self.lock:
                endpoint.down_until = 0.0
            log.info("%s: %s back in rotation", self.section, endpoint.url)
