"""When a request is late enough to send again (a hedged request): well past the server's usual reply time."""

from __future__ import annotations

import threading
from collections import deque

SAMPLES = 20  # replies timed before any request is hedged
WINDOW = 200  # the latest replies the usual time is read from
QUANTILE = 0.9
FACTOR = 3.0  # a request is hedged once it has waited FACTOR x the QUANTILE of the latest replies' times...
FLOOR = 0.25  # ... and at least this many seconds


class Latency:
    """The times of a server's latest replies, and from them when a request still waiting is sent again: a request
    that hangs (a lost packet, a stuck worker) then costs about FACTOR x the usual reply time instead of the client's
    timeout and a retry, and the extra requests stay few (about 1 - QUANTILE of them at most, fewer in practice)."""

    def __init__(self) -> None:
        self.times: deque[float] = deque(maxlen=WINDOW)
        self.lock = threading.Lock()

    def replied(self, seconds: float) -> None:
        with self.lock:
            self.times.append(seconds)

    def hedge_after(self) -> float | None:
        """Seconds after which a request is sent again; None before SAMPLES replies were timed."""
        with self.lock:
            if len(self.times) < SAMPLES:
                return None
            times = sorted(self.times)
        return max(FLOOR, FACTOR * times[int(QUANTILE * (len(times) - 1))])
