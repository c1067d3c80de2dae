"""Math verdicts are reproducible: the deadline counts the checking thread's CPU time (machine load does not change a
verdict), a timeout is undecided (never False, and no trace calls it wrong), and a tree keeps its verdicts so that
a retried search, the rollout PRM and the audit never decide an answer twice."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest
from conftest import ScriptedPolicy, TablePRM, run_search

import metacot.problems.math.domain as math_domain
from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.audit import audit_record
from metacot.linearize.reasons import EXHAUSTED, exhausted
from metacot.outputs.labels import label_records
from metacot.policy.base import ExpandRequest
from metacot.prm.base import ScoreRequest
from metacot.prm.config import RolloutConfig
from metacot.prm.rollout import RolloutPRM
from metacot.problems.math import MathDomain, MathProblem
from metacot.problems.math.answers import check
from metacot.search import Runner, make_search
from metacot.search.bfs import DFSConfig
from metacot.tree import SearchTree

PROBLEM = MathProblem("p1", "Solve for x: 2x + 3 = 13.", "5")

# --- the deadline under load ------------------------------------------------------------------------

_FRESH = itertools.count(1000)  # math-verify caches what it parsed: each timed check gets a number never seen


def nested_check(budget: float) -> bool | None:
    """A check that costs about 0.1 s of CPU time every time: ((((k)))) against k."""
    k = next(_FRESH)
    return check("(" * 4 + str(k) + ")" * 4, str(k), timeout=budget)


@contextmanager
def busy_threads(count: int = 16) -> Iterator[None]:
    """Threads of this process that spin in Python: the checking thread waits for the GIL."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    threads = [threading.Thread(target=spin) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


@contextmanager
def busy_processes(count: int = 16) -> Iterator[None]:
    """Processes that spin on the one core this thread is moved to: the checking thread waits for the core."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs sched_setaffinity (Linux)")
    mask = os.sched_getaffinity(0)
    core = min(mask)
    spin = f"import os; os.sched_setaffinity(0, {{{core}}}); print('spinning', flush=True)\nwhile True: pass"
    spinners = [subprocess.Popen([sys.executable, "-S", "-c", spin], stdout=subprocess.PIPE) for _ in range(count)]
    try:
        for process in spinners:
            assert process.stdout is not None and process.stdout.readline() == b"spinning\n"
        os.sched_setaffinity(0, {core})
        yield
    finally:
        os.sched_setaffinity(0, mask)
        for process in spinners:
            process.kill()
            process.wait()


def quiet_cpu_seconds() -> float:
    """What one check costs on a quiet machine: the least of two."""
    costs = []
    for _ in range(2):
        started = time.thread_time()
        assert nested_check(60) is True
        costs.append(time.thread_time() - started)
    return min(costs)


@pytest.mark.parametrize("load", [busy_threads, busy_processes])
def test_a_check_under_heavy_load_gives_the_verdict_of_a_quiet_machine(load):
    nested_check(60)  # the parser's first nested expression costs more
    budget = max(4 * quiet_cpu_seconds(), 0.3)
    with load():
        started, cpu = time.perf_counter(), time.thread_time()
        verdict = nested_check(budget)
        waited, cpu = time.perf_counter() - started, time.thread_time() - cpu
    assert verdict is True, f"{cpu:.3f} s of CPU time against a budget of {budget:.3f} s"
    # the load was real: a wall-clock deadline would have given up (and said False)
    assert waited > budget, f"waited {waited:.3f} s for a budget of {budget:.3f} s"


def test_a_check_that_runs_out_of_time_is_undecided_in_and_off_the_main_thread():
    slow = "(" * 40 + "7" + ")" * 40  # seconds of parsing
    assert check(slow, "7", timeout=0.2) is None
    off_main: list[bool | None] = []
    thread = threading.Thread(target=lambda: off_main.append(check(slow, "7", timeout=0.2)))
    thread.start()
    thread.join(60)
    assert off_main == [None]


# --- undecided answers in trees and traces ----------------------------------------------------------

STEPS = {
    "": ["Guess: x = \\boxed{7}.", "Subtract 3 from both sides: 2x = 10."],
    "Subtract 3 from both sides: 2x = 10.": ["Divide by 2: x = \\boxed{5}.", "Divide by 2: so \\boxed{7}."],
}
SCORES = {"Guess: x = \\boxed{7}.": 0.9, "Subtract 3 from both sides: 2x = 10.": 0.5}


@pytest.fixture
def checks(monkeypatch) -> list[str]:
    """Every answer the math domain decides; the answer 7 runs out of time (undecided)."""
    decided: list[str] = []

    def counted(answer: str, gold: str) -> bool | None:
        decided.append(answer)
        return None if answer == "7" else check(answer, gold)

    monkeypatch.setattr(math_domain, "check", counted)
    return decided


def search(earlier: SearchTree | None = None) -> SearchTree:
    """A depth-first search: it tries the guess 7 first, then goes back and solves the problem."""
    config = DFSConfig(expand_width=2)
    if earlier is None:
        (tree,), _ = run_search([PROBLEM], "dfs", config, ScriptedPolicy(STEPS), TablePRM(SCORES), MathDomain())
        return tree
    runner = Runner(MathDomain(), ScriptedPolicy(STEPS), TablePRM(SCORES), make_search("dfs", config), "dfs")
    (tree,) = runner.run([PROBLEM], {PROBLEM.id: earlier})
    return tree


def saved(tree: SearchTree) -> SearchTree:
    return SearchTree.from_dict(orjson.loads(orjson.dumps(tree.to_dict())))


def test_an_undecided_answer_is_neither_solution_nor_failure_and_is_saved(checks):
    tree = saved(search())
    assert tree.verdicts == {"7": None, "5": True}
    undecided = [n for n in tree.nodes if n.undecided]
    assert len(undecided) == 2 and all(n.correct is None and n.terminal and n.dead for n in undecided)
    assert tree.solved
    assert not exhausted(tree, undecided[0].id, len(tree.trace))  # it may be right: nothing is exhausted


@pytest.mark.parametrize("fmt", ["metacot", "tokens"])
def test_a_trace_says_an_undecided_answer_was_not_decided_and_the_audit_accepts_it(checks, fmt):
    tree = saved(search())
    record = linearize(tree, MathDomain(), fmt, LinearizeConfig())
    completion = record["completion"]
    assert "I could not decide whether the answer 7 is correct." in completion
    assert "7 does not check out" not in completion
    audit = audit_record(record, tree, MathDomain())
    assert audit.failures == [] and audit.reasons[EXHAUSTED] == 0


# --- verdicts decided once ---------------------------------------------------------------------------


def test_each_answer_is_decided_once_and_a_retried_search_and_the_audit_decide_none_again(checks):
    tree = saved(search())
    assert sorted(checks) == ["5", "7"]  # 7 is reached twice, decided once
    checks.clear()
    again = search(earlier=tree)
    assert checks == []
    assert again.verdicts == tree.verdicts and again.to_dict()["nodes"] == tree.to_dict()["nodes"]
    for fmt in ("metacot", "tokens", "cot"):
        assert audit_record(linearize(tree, MathDomain(), fmt, LinearizeConfig()), tree, MathDomain()).failures == []
    assert checks == []


def test_an_earlier_tree_of_another_gold_answer_is_not_reused(checks):
    other = SearchTree(PROBLEM.id, {**MathDomain().problem_to_dict(PROBLEM), "answer": "7"}, verdicts={"5": False})
    tree = search(earlier=other)
    assert tree.verdicts["5"] is True and "5" in checks


class RollingPolicy(ScriptedPolicy):
    """Rolls every path out to the same answer."""

    def rollout(self, requests: list[ExpandRequest]) -> list[list[list[str]]]:
        return [[["Then x = \\boxed{5}."]] * r.n for r in requests]


def test_the_rollout_prm_decides_each_answer_once_per_tree(checks):
    tree = SearchTree.with_root(PROBLEM.id, MathDomain().problem_to_dict(PROBLEM), {"step": 0}, "mcts")
    node = tree.add_child(tree.root, "Subtract 3 from both sides: 2x = 10.", state={"step": 1})
    prm = RolloutPRM(RolloutConfig(rollouts=8), MathDomain(), RollingPolicy())
    assert prm.score([ScoreRequest(PROBLEM, tree, node, seed=0)]) == [1.0]
    assert checks == ["5"] and tree.verdicts == {"5": True}


def test_prm_labels_leave_out_a_path_whose_answer_is_undecided(checks):
    tree = saved(search())
    for node in tree.nodes[1:]:
        node.score = 0.5
    records = list(label_records(tree, MathDomain()))
    assert [r["completions"][-1] for r in records] == ["Divide by 2: x = \\boxed{5}."]
    assert records[0]["labels"] == [True, True]
