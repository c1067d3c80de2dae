"""Answer extraction and checking: tricky equivalences both ways, malicious inputs, the deadline in and off the
main thread."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from metacot.problems.math.answers import MAX_ANSWER_CHARS, _Worker, check, extract_answer, last_boxed

# --- extraction -------------------------------------------------------------------------------------

EXTRACTED = [
    (r"so $\boxed{5}$.", "5"),
    (r"\boxed{\frac{1}{\sqrt{2}}}", r"\frac{1}{\sqrt{2}}"),  # nested braces
    (r"first \boxed{1}, then \boxed{2}", "2"),  # the last one
    (r"\fbox{\{1, 2\}}", r"\{1, 2\}"),  # escaped braces are not grouping
    (r"\boxed{x^{2^{3}}} and \boxed {7}", "7"),  # space before the brace
    (r"\boxed 5$", "5"),  # the bare form
    (r"\boxed$", None),
    (r"\boxed{3} then \boxed{4", None),  # the last box does not close
    (r"\boxed{}", None),
    ("She has 18 apples.\n#### 18", "18"),
    ("The answer is 18 dollars. Let me double-check.", "18 dollars"),
    ("Final Answer: The final answer is $5$. I hope it is correct.", "5"),
    ("**Final Answer:** $x = 3$", "x = 3"),
    ("Answer: 42", "42"),
    ("So the answer is $3.5$.", "3.5"),
    (r"The answer is 7, but \boxed{8}", "8"),  # a box beats a phrase
    ("#### 12\nThe answer is 13", "12"),  # so does GSM8K's mark
    ("Let x = 5. Then 2x = 10.", None),
    ("To find the answer, add them.", None),
]


@pytest.mark.parametrize(("text", "answer"), EXTRACTED)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_last_boxed_scans_long_unbalanced_text_quickly():
    started = time.perf_counter()
    assert last_boxed("\\boxed{" + "\\frac{" * 100_000) is None
    assert last_boxed("\\boxed{" * 100_000) is None
    assert last_boxed("x" * 1_000_000 + "\\boxed{" + "{" * 500 + "9" + "}" * 501) == "{" * 500 + "9" + "}" * 500
    assert time.perf_counter() - started < 5


STEP_CHARS = 32_000
ADVERSARIAL_STEPS = {  # name: (a step about STEP_CHARS long, its answer); the first two were quadratic once
    "short punctuation lines": (".\n" * (STEP_CHARS // 2), None),
    "blank lines": ("\n" * STEP_CHARS, None),
    "markdown lines before the answer": ("*-\n" * (STEP_CHARS // 3) + "**Answer:** 7", "7"),
    "unclosed boxes": ("\\boxed{" * (STEP_CHARS // 7), None),
    "a run of open braces": ("\\boxed" + "{" * STEP_CHARS, None),
    "repeated phrases": ("The answer is x\n" * (STEP_CHARS // 16), "x"),
    "phrase words without a colon": ("final answer the " * (STEP_CHARS // 17), None),
    "GSM8K marks": ("####\n" * (STEP_CHARS // 5), None),
}


@pytest.mark.parametrize(("text", "answer"), ADVERSARIAL_STEPS.values(), ids=ADVERSARIAL_STEPS.keys())
def test_extract_answer_is_fast_on_adversarial_steps(text, answer):
    started = time.perf_counter()
    assert extract_answer(text) == answer
    assert time.perf_counter() - started < 2  # milliseconds when linear; 122 s was measured when quadratic


# --- checking ---------------------------------------------------------------------------------------

EQUAL = [
    ("0.5", r"\frac{1}{2}"),
    (r"\dfrac12", "0.5"),
    (r"2\sqrt{2}", r"\sqrt{8}"),
    (r"\frac{\sqrt{3}}{2}", r"\frac{1}{2}\sqrt{3}"),
    (r"50\%", "0.5"),
    (r"50\%", "50"),  # math-verify lets a percentage equal its number
    ("18 dollars", "18"),
    (r"\$18", "18"),
    (r"5\text{ cm}", "5"),
    ("x = 3", "3"),
    ("y = 2x + 1", "2x+1"),
    ("x^2+2x+1", "(x+1)^2"),
    (r"[1,2)", r"[1, 2)"),
    (r"x \in (-\infty, 3]", r"(-\infty,3]"),
    (r"\{1,2\}", "2,1"),
    ("$\\frac{3}{4}$", "0.75"),
    ("1,000", "1000"),
    ("10^{3}", "1000"),
    (r"\text{Monday}", "Monday"),
    (r"\text{(B)}", "B"),
    (r"\infty", r"\infty"),
]

NOT_EQUAL = [
    ("7", "5"),
    ("-3", "3"),
    ("(1,2]", "[1,2)"),
    ("(1, 2)", "(2, 1)"),
    ("1/3", "0.333"),
    (r"\pi", "3.14"),
    ("3 x", "3"),  # not a number with a unit
    ("B", "C"),
    ("x+1", "x-1"),
    ("", "5"),
    ("5", ""),
]


@pytest.mark.parametrize(("answer", "gold"), EQUAL)
def test_equal_answers_check(answer, gold):
    assert check(answer, gold)


@pytest.mark.parametrize(("answer", "gold"), NOT_EQUAL)
def test_different_answers_do_not_check(answer, gold):
    assert not check(answer, gold)


def test_non_strings_do_not_check():
    assert not check(5, "5")
    assert not check("5", None)


MALICIOUS = [
    "__import__('os').system('touch {pwned}')",
    "().__class__.__bases__[0].__subclasses__()",
    "9**9**9**9",
    "9^9^9^9",
    "9^{9^{9^{9}}}",
    "10^{10^{10}}",
    "2^{123456789}",
    "1000000!",
    "\\frac{" * 10_000,
    "\\boxed{" * 10_000,
    "1" * 1_000_000,
    "x" * (MAX_ANSWER_CHARS + 1),
    " " * 1_000_000 + "5",
]


@pytest.mark.parametrize("bad", MALICIOUS, ids=lambda s: s[:24])
def test_malicious_answers_are_wrong_and_quick(bad, tmp_path):
    bad = bad.replace("{pwned}", str(tmp_path / "pwned"))
    for answer, gold in ((bad, "5"), ("5", bad)):
        started = time.perf_counter()
        assert check(answer, gold) is False
        assert time.perf_counter() - started < 5
    started = time.perf_counter()
    extract_answer(f"The answer is {bad}")
    extract_answer(f"\\boxed{{{bad}}}")
    assert time.perf_counter() - started < 5
    assert not (tmp_path / "pwned").exists()


SLOW = "(" * 40 + "1" + ")" * 40  # math-verify's parser takes seconds on deep nesting it has not seen before


@pytest.mark.parametrize(("answer", "gold"), [(SLOW, "1"), ("(10^{100})!", "5")], ids=["nesting", "factorial"])
def test_the_deadline_stops_a_slow_check_undecided(answer, gold):
    started = time.perf_counter()
    assert check(answer, gold, timeout=0.2) is None  # undecided, not wrong
    assert 0.2 <= time.perf_counter() - started < 1.5  # ran until the deadline: no cheap rule rejected it


def test_the_deadline_restores_an_outer_timer():
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        assert check("0.25", r"\frac14")
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 20 < remaining <= 30
        signal.setitimer(signal.ITIMER_REAL, 0)
        assert not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_checks_off_the_main_thread_run_in_a_child_process():
    results = {}

    def work():
        results["equal"] = check(r"\frac{1}{2}", "0.5")
        results["different"] = check("7", "5")
        started = time.perf_counter()
        results["slow"] = check(SLOW, "1", timeout=0.1)
        results["slow_seconds"] = time.perf_counter() - started

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert results["equal"] is True
    assert results["different"] is False
    assert results["slow"] is None
    assert results["slow_seconds"] < 2


def test_a_child_that_does_not_answer_in_time_is_killed_and_replaced():
    worker = _Worker()
    assert worker.check("0.5", r"\frac12", 2, 60)  # starts the process
    first = worker._process
    started = time.perf_counter()
    assert worker.check("(" * 60 + "1" + ")" * 60, "1", 600, 0.5) is None  # the child would take minutes
    assert time.perf_counter() - started < 3
    assert first.poll() is not None  # killed
    assert worker.check("0.5", r"\frac12", 2, 60)
    assert worker._process is not first
    worker._stop()
