"""A hung server told from a slow one: timeouts with no reply to anything meanwhile make requests fail at once."""

from __future__ import annotations

import threading
import time

HUNG_AFTER = 2  # attempts in a row that timed out while the server replied to nothing


class Silence:
    """Counts a server's attempts that timed out while it replied to nothing (over all its copies and requests: an
    attempt that timed out while other requests were answered is a slow server, not a hung one). At HUNG_AFTER in a
    row the server is taken for hung: for `pause` seconds after each further such timeout, requests fail at once
    instead of being sent or retried, so the searches waiting on it fail (and the breaker trips) within about
    HUNG_AFTER timeouts rather than each search's whole retry chain. Any reply (an answer or an HTTP error) ends it;
    a refused or dropped connection is no reply and no timeout."""

    def __init__(self, pause: float):
        self.pause = pause
        self.timeouts = 0  # attempts in a row that timed out while nothing was answered
        self.until = 0.0  # time.monotonic() until which requests fail at once
        self.last_reply = 0.0  # time.monotonic() of the server's last reply
        self.lock = threading.Lock()

    def replied(self) -> None:
        with self.lock:
            self.timeouts, self.until, self.last_reply = 0, 0.0, time.monotonic()

    def timed_out(self, sent: float) -> None:
        """An attempt sent at `sent` (time.monotonic()) timed out."""
        with self.lock:
            if self.last_reply >= sent:  # the server answered others meanwhile: slow, not hung
                return
            self.timeouts += 1
            if self.timeouts >= HUNG_AFTER:
                self.until = time.monotonic() + self.pause

    def hung(self) -> int:
        """The timeouts in a row while requests fail at once; 0 when they may be sent."""
        return self.timeouts if time.monotonic() < self.until else 0
