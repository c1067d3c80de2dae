"""Stopping on a signal: SIGINT and SIGTERM raise Interrupted in the main thread and end every backend request's
retries and waits, so a run ends through its cleanup within a moment."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL = 0.1  # seconds between a waiting request's looks at `stopping`
T = TypeVar("T")

stopping = threading.Event()  # set by the signal: requests in flight are given up, retry loops and backoffs end
_requests: set[threading.Thread] = set()  # the threads of requests sent and not yet answered
_requests_lock = threading.Lock()


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that no `except Exception` swallows
    it; whoever knows how much work was finished sets `done` on its way out."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.done: str | None = None  # e.g. "37 of 100 problems done"

    @property
    def exit_code(self) -> int:
        """The shell's code for a death by this signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class Stopped(BaseException):
    """A backend request (or its retry wait) given up because the process is stopping: raised in a worker thread,
    whose result no one reads (the main thread has Interrupted). A BaseException, so that no search is recorded as
    failed for it."""


def _raise(signum: int, frame: FrameType | None) -> None:
    stopping.set()
    raise Interrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """Within: SIGINT and SIGTERM raise Interrupted (in the main thread; elsewhere signals are left alone) and set
    `stopping` (cleared on the way in)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping.clear()
    previous = {signum: signal.signal(signum, _raise) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def pause(seconds: float) -> None:
    """Sleep, or raise Stopped as soon as the process is stopping."""
    if stopping.wait(seconds):
        raise Stopped()


def until_stopped(fn: Callable[[], T], hedge: float | None = None) -> T:
    """fn() (a request) in a daemon thread of its own, waited for until it returns, or until the process is
    stopping: then Stopped, and fn's thread is left to end with its request or with the process (a blocking socket
    read cannot be cut short from another thread). With `hedge`: once fn has not returned for that many seconds, it
    runs once more beside (a hedged request), and the first to return is taken; an error only when both raised (the
    first copy's)."""
    if stopping.is_set():
        raise Stopped()
    copies = [_started(fn)]
    due = None if hedge is None else time.monotonic() + hedge
    while True:
        answered = [copy for copy in copies if copy.done() and copy.exception() is None]
        if answered:
            return answered[0].result()
        pending = [copy for copy in copies if not copy.done()]
        if not pending:
            return copies[0].result()  # raises its error
        if due is not None and time.monotonic() >= due:
            copies.append(_started(fn))
            due = None  # once
            continue
        wait(pending, POLL if due is None else max(0.0, min(POLL, due - time.monotonic())), FIRST_COMPLETED)
        if stopping.is_set():
            raise Stopped()


def _started(fn: Callable[[], T]) -> Future[T]:
    """fn() running in a daemon thread of its own (in `_requests` until it returns); its future."""
    result: Future[T] = Future()

    def run() -> None:
        try:
            result.set_result(fn())
        except BaseException as error:  # handed to the waiting thread as it is
            result.set_exception(error)
        finally:
            with _requests_lock:
                _requests.discard(thread)

    thread = threading.Thread(target=run, name="metacot-request", daemon=True)
    with _requests_lock:
        _requests.add(thread)
    thread.start()
    return result


def requests_in_flight() -> bool:
    """Whether a request sent by until_stopped is still waiting for its reply (given up or not)."""
    with _requests_lock:
        return any(thread.is_alive() for thread in _requests)
