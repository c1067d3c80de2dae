"""Final answers in model text: extraction (\\boxed{}, '####', 'The answer is') and equivalence checks by math-verify.

A check has three outcomes: True (equal), False (different), None (undecided: it ran out of time). How it is bounded
(model output is untrusted: it may be huge, or make sympy work forever), so that the verdict does not depend on how
busy the machine is:
1. Cheap rejections first: answers longer than MAX_ANSWER_CHARS, numeric power towers (9^{9^{9}}, 9**9**9),
   exponents of 7 or more digits and factorials of 6 or more digits are never equal to anything (False).
2. The deadline counts the CPU time of the checking thread (time.thread_time), not the wall clock: time spent
   waiting for a core, or for the GIL while other threads run, is not charged. DEFAULT_TIMEOUT is far above the
   slowest ordinary answers (about 0.3 s of CPU, the first check of a process included; docs), so it only stops
   pathological ones, and those are undecided, never silently wrong. The gold answer is parsed once per process,
   under its own deadline: its cost is not charged to an answer.
3. In the main thread, a SIGALRM timer (setitimer) wakes the check; the handler raises only when the thread's CPU
   time is spent, and otherwise sets the timer again for what is left. math-verify's own timeouts are switched off:
   they arm signal.alarm per call, cancel any outer timer when they finish, and only take whole seconds. An outer
   timer (pytest-timeout, say) is restored afterwards. (ITIMER_PROF would count every thread of the process.)
4. Off the main thread (and on Windows) signals cannot be used, so the check runs in a child process under the same
   CPU deadline; only a child that has not answered after WAIT_FACTOR times the deadline of wall time (stopped, or
   starved for far longer than any ordinary check takes) is killed, and the answer is undecided.
Nothing here evaluates model text as Python: math-verify parses LaTeX with ANTLR and plain expressions made only
of digits and operators with sympy.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import orjson

MAX_ANSWER_CHARS = 1000
DEFAULT_TIMEOUT = 5.0  # seconds of CPU time for one check: parsing the answer and comparing it with the gold answer
WAIT_FACTOR = 10  # a checking process may take this many times the deadline, in wall time, before it is killed
_TICK = 0.01  # the shortest wait before the thread's CPU time is looked at again
_STARTUP_SECONDS = 120.0  # the checking process imports sympy and math-verify before it answers
_HAS_TIMER = hasattr(signal, "setitimer")

_BOX = re.compile(r"\\(?:boxed|fbox)\b")
_BRACES = re.compile(r"\\.|[{}]", re.S)  # an escaped character (\{ is a literal brace) or a grouping brace
_BARE_BOX = re.compile(r"\s*([^\s$]*)")  # \boxed 5, or the space before \boxed {5}
_GSM8K = re.compile(r"####[ \t]*([^\n]*)")
# The line prefix before 'Answer:' (markdown '**', '- ') stays on its line: a prefix that could run over newlines
# was rescanned from every line start, quadratic in the number of short punctuation lines.
_ANSWER_IS = re.compile(r"\bthe\s+(?:final\s+)?answer\s+is\b\s*:?|^(?:[^\w\n]|_)*(?:final\s+)?answer\s*:", re.I | re.M)
_HOPE = "i hope it is correct"  # Minerva's "Final Answer: The final answer is 5. I hope it is correct."
_SENTENCE_END = re.compile(r"\.\s")
_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_NUMBER_AND_WORDS = re.compile(r"(\\?\$?\s*-?(?:\d[\d,]*(?:\.\d*)?|\.\d+)\s*\\?%?)\s+[A-Za-z]{2,}[A-Za-z\s.]*")  # 18 cm

_POWER = r"(?:\^|\*\*)"
_HUGE = re.compile(
    rf"\d\s*{_POWER}\s*\{{?\s*\d+\s*\}}?\s*{_POWER}"  # a numeric power tower: 9^9^9, 9^{9^{9}}, 9**9**9
    rf"|{_POWER}\s*\{{?\s*\d{{7,}}"  # an exponent of a million or more
    r"|\d{6,}\s*!"  # a factorial of a hundred thousand or more
)


# --- extraction -------------------------------------------------------------------------------------


def last_boxed(text: str) -> str | None:
    """The contents of the last \\boxed{...} or \\fbox{...} (nested braces allowed), or None if there is none,
    it is empty, or its braces do not close."""
    starts = [m.end() for m in _BOX.finditer(text)]
    if not starts:
        return None
    content = _group(text, starts[-1])
    return (content or "").strip() or None


def _group(text: str, pos: int) -> str | None:
    """The braced group (or the bare token, as in '\\boxed 5') that starts at pos, after any spaces."""
    token = _BARE_BOX.match(text, pos)
    assert token is not None  # the pattern matches the empty string too
    if not token[1].startswith("{"):
        return token[1]
    pos = token.start(1)
    depth = 0
    for m in _BRACES.finditer(text, pos):
        if m[0] == "{":
            depth += 1
        elif m[0] == "}":
            depth -= 1
            if depth == 0:
                return text[pos + 1 : m.start()]
    return None


def extract_answer(text: str) -> str | None:
    """The final answer a text gives: the last \\boxed{} or \\fbox{}, else GSM8K's '#### N', else what follows the
    last 'The (final) answer is' or a line starting 'Final Answer:' / 'Answer:'. None if it gives none."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    marks = list(_GSM8K.finditer(text))
    if marks:
        return _clean(marks[-1][1])
    phrases = list(_ANSWER_IS.finditer(text))
    if phrases:
        rest = text[phrases[-1].end() :].split("\n", 1)[0].rstrip(" .")
        if rest.lower().endswith(_HOPE):
            rest = rest[: -len(_HOPE)]
        end = _SENTENCE_END.search(rest)
        return _clean(rest[: end.start()] if end else rest)
    return None


def _clean(answer: str) -> str | None:
    """The answer without surrounding space, markdown bold, a final full stop and math delimiters; None if empty."""
    answer = answer.strip().strip("*").strip()
    if answer.endswith("."):
        answer = answer[:-1].rstrip()
    for opening, closing in _DELIMITERS:
        if len(answer) > len(opening) + len(closing) and answer.startswith(opening) and answer.endswith(closing):
            answer = answer[len(opening) : -len(closing)].strip()
            break
    return answer or None


# --- checking ---------------------------------------------------------------------------------------


def check(answer: str, gold: str, timeout: float = DEFAULT_TIMEOUT) -> bool | None:
    """Whether the answer equals the gold answer mathematically (math-verify): True or False, or None (undecided)
    when that cannot be decided within `timeout` seconds of CPU time. An answer too large to check, or not a string,
    is False."""
    if not isinstance(answer, str) or not isinstance(gold, str) or _rejected(answer) or _rejected(gold):
        return False
    answer, gold = _comparable(answer), _comparable(gold)
    if not answer or not gold:
        return False
    if answer == gold:
        return True
    if _HAS_TIMER and threading.current_thread() is threading.main_thread():
        return _check_with_deadline(answer, gold, timeout)
    return _WORKER.check(answer, gold, timeout, WAIT_FACTOR * timeout)


def _comparable(answer: str) -> str:
    answer = _clean(answer) or ""
    number = _NUMBER_AND_WORDS.fullmatch(answer)
    return number[1].strip() if number else answer


def _rejected(answer: str) -> bool:
    """Too long or too large to check; the length goes first, so the regex never sees a long text."""
    return len(answer) > MAX_ANSWER_CHARS or _HUGE.search(answer) is not None


class _Deadline(BaseException):
    """Raised by the alarm; a BaseException so that math-verify's and sympy's `except Exception` let it through."""


def _check_with_deadline(answer: str, gold: str, seconds: float) -> bool | None:
    verify = _math_verify()[1]  # imported before the clock starts: the first import takes a while
    gold_parsed = _parse_gold(gold, seconds)
    if gold_parsed is None:
        return None
    try:
        with _cpu_deadline(seconds):
            answer_parsed = _parse(answer)
            return bool(gold_parsed and answer_parsed and verify(gold_parsed, answer_parsed, timeout_seconds=None))
    except _Deadline:
        return None


@lru_cache(maxsize=4096)
def _parse_gold(gold: str, seconds: float) -> list | None:
    """The gold answer's parse, once per process and under a deadline of its own: what it costs is never charged
    to an answer's check. None if it cannot be parsed in time (every check against it is then undecided)."""
    try:
        with _cpu_deadline(seconds):
            return _parse(gold)
    except _Deadline:
        return None


@lru_cache(maxsize=4096)
def _parse(answer: str) -> list:
    """math-verify's parse of the answer as the contents of a \\boxed{}; cached, as answers recur."""
    return _math_verify()[0]("\\boxed{" + answer + "}", parsing_timeout=None)


@contextmanager
def _cpu_deadline(seconds: float) -> Iterator[None]:
    """Raise _Deadline in this (main) thread once it has used `seconds` of CPU time; any timer set before is put
    back afterwards.

    A wall-clock timer wakes the thread when the budget would be spent had it run all along; if it waited for a
    core or the GIL in between, the timer is set again for the CPU time it has left. Without interval timers
    (Windows) this does nothing: there checks run in the child process, which is killed.
    """
    if not _HAS_TIMER:
        yield
        return
    deadline = time.thread_time() + seconds
    armed = True

    def expire(signum: int, frame: Any) -> None:
        if not armed:  # went off while the block was ending: the timer is being disarmed
            return
        left = deadline - time.thread_time()
        # armed again even when raising: a raise inside a gc or __del__ callback is swallowed, and the check must
        # still stop at the next tick
        signal.setitimer(signal.ITIMER_REAL, max(left, _TICK))
        if left <= 0:
            raise _Deadline

    started = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, expire)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-6))  # 0 would mean no timer
    try:
        yield
    finally:
        armed = False
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:  # the alarm may go off just before it is disarmed; it cannot go off twice
            signal.signal(signal.SIGALRM, old_handler if old_handler is not None else signal.SIG_DFL)
            if old_delay:
                remaining = old_delay - (time.monotonic() - started)
                signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-6), old_interval)


class _NoTimeoutWarning(logging.Filter):
    """Drops math-verify's warning that its own timeouts are off: _alarm and _Worker bound every check instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


@lru_cache(maxsize=1)
def _math_verify() -> tuple[Any, Any]:
    try:
        from math_verify import parse, verify
    except ImportError as e:
        raise ImportError("checking math answers needs math-verify: pip install 'metacot[math]'") from e
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_NoTimeoutWarning())
    return parse, verify


# --- checking off the main thread -------------------------------------------------------------------

# The child is a fresh interpreter started with -c, not by multiprocessing: multiprocessing's "spawn" re-imports
# the caller's __main__, which breaks scripts without an `if __name__ == "__main__":` guard.
_CHILD = "from metacot.problems.math.answers import _serve; _serve()"
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])


_REPLIES = {True: "1", False: "0", None: "?"}  # the checking process's verdict lines
_VERDICTS = {"1": True, "0": False}  # anything else ("?", or "" when the process ended) is undecided


def _serve() -> None:
    """The checking process: reads [answer, gold, seconds] JSON lines on stdin, writes a _REPLIES line for each."""
    _math_verify()
    print("ready", flush=True)
    for line in sys.stdin:
        answer, gold, seconds = orjson.loads(line)
        print(_REPLIES[_check_with_deadline(answer, gold, seconds)], flush=True)


def _read_lines(stream: IO[bytes], replies: queue.Queue[str]) -> None:
    for line in stream:
        replies.put(line.decode().strip())
    replies.put("")  # the process has ended


class _Worker:
    """A child process that checks answers for threads other than the main one, one check at a time."""

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """No process and a new lock: what a forked child starts from (it must not share the parent's)."""
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._replies: queue.Queue[str] = queue.Queue()

    def check(self, answer: str, gold: str, seconds: float, wait: float) -> bool | None:
        """The child's verdict, or None (undecided) if it has none within `wait` seconds (the child is then
        killed)."""
        with self._lock:
            process = self._process
            if process is None or process.poll() is not None:
                process = self._start()
            assert process.stdin is not None  # started with stdin=PIPE
            try:
                process.stdin.write(orjson.dumps([answer, gold, seconds]) + b"\n")
                process.stdin.flush()
                return _VERDICTS.get(self._replies.get(timeout=wait))
            except (queue.Empty, OSError):
                self._stop()
                return None

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([_PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")])}
        process = subprocess.Popen(
            [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_read_lines, args=(process.stdout, replies), daemon=True).start()
        try:
            ready = replies.get(timeout=_STARTUP_SECONDS)
        except queue.Empty:
            ready = ""
        if ready != "ready":
            process.kill()
            process.wait()
            raise RuntimeError(f"the answer-checking process did not start ({sys.executable} -c {_CHILD!r})")
        self._process, self._replies = process, replies
        return process

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


_WORKER = _Worker()
if hasattr(os, "register_at_fork"):  # a forked child must not share the parent's checking process or its lock
    os.register_at_fork(after_in_child=_WORKER.forget)
