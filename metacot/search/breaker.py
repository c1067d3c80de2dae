"""The circuit breaker: stops a run whose backend keeps failing, instead of marking every problem failed."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from metacot.flags import flag


@dataclass
class RunConfig:
    """How a run reacts to a failing backend (searches a backend error fails are retried when the run is rerun)."""

    breaker_failures: int = flag(
        "stop the run after this many searches in a row fail for a backend error (0: never)", 8
    )  # "in a row": no backend call succeeded in between
    breaker_window: int = field(
        default=50,
        metadata={"help": "... or stop when more than breaker_share of the last breaker_window searches failed"},
    )
    breaker_share: float = field(
        default=0.5,
        metadata={"help": "the share of breaker_window that stops a run (1.0: only failures in a row stop it)"},
    )

    def __post_init__(self) -> None:
        if self.breaker_failures < 0:
            raise ValueError(f"breaker_failures: must be 0 (never stop) or more, got {self.breaker_failures}")
        if self.breaker_window < 1:
            raise ValueError(f"breaker_window: must be at least 1, got {self.breaker_window}")
        if not 0 < self.breaker_share <= 1:
            raise ValueError(f"breaker_share: must be in (0, 1], got {self.breaker_share}")


class BackendOutage(RuntimeError):
    """The breaker stopped the run; the message says why and what failed last."""

    what = "the backend is failing"  # what stopped the run, for the user


class RunStopped(RuntimeError):
    """A run stopped before every problem was searched, its finished work kept; the message is for the user."""


class Breaker:
    """Counts failed searches: too many in a row (no backend call succeeding in between), or too large a share of
    the last `breaker_window` searches, raise BackendOutage."""

    def __init__(self, config: RunConfig):
        self.config = config
        self.in_a_row = 0
        self.recent: deque[bool] = deque(maxlen=config.breaker_window)  # whether each recent search failed
        self.last_failure = ""

    def call_succeeded(self) -> None:
        self.in_a_row = 0

    def search_ended(self, failure: str | None) -> None:
        """Record a search's end (`failure`: its reason, None when it finished); raise BackendOutage if tripped."""
        self.recent.append(failure is not None)
        if failure is None:
            return
        self.in_a_row += 1
        self.last_failure = failure
        c = self.config
        if c.breaker_failures and self.in_a_row >= c.breaker_failures:
            raise BackendOutage(f"{self.in_a_row} searches in a row failed; the last: {failure}")
        failed = sum(self.recent)
        if len(self.recent) == c.breaker_window and failed > c.breaker_share * c.breaker_window:
            raise BackendOutage(f"{failed} of the last {c.breaker_window} searches failed; the last: {failure}")
