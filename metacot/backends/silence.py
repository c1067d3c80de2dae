"""A hung server told from a slow one: timeouts in a row with no reply in between make requests fail at once."""

from __future__ import annotations

import threading
import time

HUNG_AFTER = 2  # attempts in a row that timed out, with no reply from any copy of the server in between


class Silence:
    """Counts a server's attempts that timed out since its last reply (over all its copies and requests). At
    HUNG_AFTER the server is taken for hung: for `pause` seconds after each further timeout, requests fail at once
    instead of being sent or retried, so the searches waiting on it fail (and the breaker trips) within about
    HUNG_AFTER timeouts rather than each search's whole retry chain. Any reply (an answer or an HTTP error) ends it;
    a refused or dropped connection is no reply and no timeout."""

    def __init__(self, pause: float):
        self.pause = pause
        self.timeouts = 0  # attempts in a row that timed out
        self.until = 0.0  # time.monotonic() until which requests fail at once
        self.lock = threading.Lock()

    def replied(self) -> None:
        if self.timeouts:
            with self.lock:
                self.timeouts, self.until = 0, 0.0

    def timed_out(self) -> None:
        with self.lock:
            self.timeouts += 1
            if self.timeouts >= HUNG_AFTER:
                self.until = time.monotonic() + self.pause

    def hung(self) -> int:
        """The timeouts in a row while requests fail at once; 0 when they may be sent."""
        return self.timeouts if time.monotonic() < self.until else 0
