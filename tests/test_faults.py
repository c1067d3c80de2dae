"""Fault injection: the OpenAI policy and whole runs against a misbehaving local server (tests/fault_server.py).

Every run ends with each problem done or failed with its reason, or stopped by the breaker with its finished work
kept; a rerun against the healed server finishes the rest; no problem is ever written twice as finished."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest

pytest.importorskip("openai")
pytest.importorskip("transformers")

from fault_server import SERVED, FaultServer, countdown_steps  # noqa: E402

from metacot.backends import latency  # noqa: E402
from metacot.backends import server as server_module  # noqa: E402
from metacot.backends.generate import request_seed  # noqa: E402
from metacot.cli import main  # noqa: E402
from metacot.outputs import RunDir  # noqa: E402
from metacot.policy.base import ExpandRequest  # noqa: E402
from metacot.policy.openai import OpenAIPolicy, OpenAIPolicyConfig  # noqa: E402
from metacot.prm.oracle import CountdownOraclePRM  # noqa: E402
from metacot.problems.countdown import CountdownDomain, generate_problems  # noqa: E402
from metacot.search import MCTSConfig, Runner, make_search  # noqa: E402
from metacot.tree import SearchTree  # noqa: E402

DOMAIN = CountdownDomain()
PROBLEMS = generate_problems(4, 11)


@pytest.fixture
def serve():
    """serve(fault=..., die_after=...): a FaultServer, stopped after the test."""
    started: list[FaultServer] = []

    def start(*args, **kwargs) -> FaultServer:
        started.append(FaultServer(*args, **kwargs))
        return started[-1]

    yield start
    for server in started:
        with contextlib.suppress(OSError):
            server.stop()


def first(*faults):
    """A fault script: the given faults for the first requests, then answers."""
    return lambda count, body: faults[count - 1] if count <= len(faults) else None


def policy(url: str, tokenizer_dir: str, **overrides) -> OpenAIPolicy:
    settings = dict(base_url=url, model=SERVED, tokenizer=tokenizer_dir, max_tokens=16, backoff=0.01, timeout=2.0)
    return OpenAIPolicy(OpenAIPolicyConfig(**(settings | overrides)), DOMAIN)


def requests(n: int = 2) -> list[ExpandRequest]:
    out = []
    for i, problem in enumerate(PROBLEMS):
        tree = SearchTree.with_root(problem.id, DOMAIN.problem_to_dict(problem), problem.numbers)
        out.append(ExpandRequest(problem=problem, tree=tree, node=tree.root, n=n, seed=i))
    return out


# --- the policy against one fault at a time ---------------------------------------------------------------


def test_retry_after_in_seconds_is_honoured(serve, tokenizer_dir):
    server = serve(first(("status", 429, {"Retry-After": "1"})))
    start = time.monotonic()
    (proposals,) = policy(server.url, tokenizer_dir, max_retries=1).propose(requests()[:1])
    assert time.monotonic() - start >= 0.9  # the backoff alone would wait 0.01 s
    assert len(proposals) == 2 and server.count == 2


def test_retry_after_reads_seconds_and_http_dates_within_a_cap(monkeypatch):
    def error(status: int, value: str | None) -> SimpleNamespace:
        headers = {} if value is None else {"retry-after": value}
        return SimpleNamespace(status_code=status, response=SimpleNamespace(headers=headers))

    later = format_datetime(datetime.fromtimestamp(time.time() + 30, timezone.utc), usegmt=True)
    assert server_module._retry_after(error(429, "2")) == 2.0
    assert 28 <= server_module._retry_after(error(503, later)) <= 30
    assert server_module._retry_after(error(429, "86400")) == server_module.MAX_RETRY_AFTER
    assert server_module._retry_after(error(429, "-5")) == 0.0
    assert server_module._retry_after(error(429, "soon")) is None
    assert server_module._retry_after(error(429, None)) is None
    assert server_module._retry_after(error(500, "2")) is None  # only 429 and 503 carry it


def test_a_prompt_over_the_context_length_is_a_dead_node_not_a_failure(serve, tokenizer_dir):
    reqs = requests(3)
    too_long = request_seed(reqs[1].seed)
    server = serve(lambda count, body: ("context",) if body["seed"] == too_long else None)
    proposals = policy(server.url, tokenizer_dir).propose(reqs)
    assert [(p.text, p.tokens, p.finish_reason) for p in proposals[1]] == [("", 0, "length")] * 3
    assert all(len(p) == 3 and p[0].text for i, p in enumerate(proposals) if i != 1)
    assert server.faults == ["context"] and server.count == len(reqs)  # not retried
    assert policy(server.url, tokenizer_dir).rollout(reqs[1:2]) == [[[], [], []]]
    assert server.faults == ["context"] * 2


@pytest.mark.parametrize(
    "faults",
    [
        [("status", 500, {}), ("status", 503, {})],
        [("drop",), ("drop",)],
        [("malformed",), ("malformed",)],
        [("hang", 1.0), ("drop",)],
    ],
    ids=["5xx", "dropped", "malformed-json", "hang"],
)
def test_transient_faults_are_retried(serve, tokenizer_dir, faults):
    server = serve(first(*faults))
    (proposals,) = policy(server.url, tokenizer_dir, max_retries=2, timeout=0.3).propose(requests()[:1])
    assert len(proposals) == 2 and server.count == 3


def test_a_request_far_slower_than_the_usual_is_sent_again_and_the_first_reply_taken(serve, tokenizer_dir):
    usual = latency.SAMPLES
    server = serve(lambda count, body: ("hang", 8.0) if count == usual + 1 else None)
    hedged = policy(server.url, tokenizer_dir, max_retries=0, timeout=30.0)
    for _ in range(usual):
        hedged.propose(requests()[:1])
    start = time.monotonic()
    (proposals,) = hedged.propose(requests()[:1])
    assert time.monotonic() - start < 4  # not the 8 s hang: hedged after FACTOR x the usual reply time (or FLOOR)
    assert len(proposals) == 2 and server.faults == ["hang"] and server.count == usual + 2


def test_the_hedge_waits_for_the_usual_reply_time():
    watch = latency.Latency()
    for _ in range(latency.SAMPLES - 1):
        watch.replied(1.0)
    assert watch.hedge_after() is None  # too few replies to know the usual time
    watch.replied(1.0)
    assert watch.hedge_after() == latency.FACTOR * 1.0
    fast = latency.Latency()
    for _ in range(latency.SAMPLES):
        fast.replied(0.001)
    assert fast.hedge_after() == latency.FLOOR


def test_a_malformed_reply_that_persists_fails_with_a_reason(serve, tokenizer_dir):
    server = serve(lambda count, body: ("malformed",))
    with pytest.raises(RuntimeError, match="failed after 2 attempts: the reply is not valid JSON"):
        policy(server.url, tokenizer_dir, max_retries=1).propose(requests()[:1])


def test_fewer_choices_than_n_are_accepted(serve, tokenizer_dir, caplog):
    server = serve(first(("short", 1)))
    proposals = policy(server.url, tokenizer_dir).propose(requests(3)[:1])
    assert [len(p) for p in proposals] == [1] and server.count == 1
    assert "the server sent 1 choices for n = 3" in caplog.text


# --- whole runs ---------------------------------------------------------------------------------------------


def synth(out: Path, url: str, tokenizer_dir: str, *flags: str) -> int:
    settings = {
        "base_url": url,
        "tokenizer": tokenizer_dir,
        "max_retries": 0,
        "backoff": 0.01,
        "timeout": 0.5,
        "max_tokens": 8,
    }
    sets = [arg for key, value in settings.items() for arg in ("--set", f"policy.openai.{key}={value}")]
    base = ["synth", "--out", str(out), "--no-progress", "--policy", "openai", "--policy-model", SERVED]
    base += ["--num-problems", "12", "--concurrency", "4", "--search", "mcts", "--set", "search.mcts.simulations=3"]
    return main([*base, *sets, *flags])


def records(out: Path) -> list[dict]:
    return [orjson.loads(line) for shard in sorted((out / "trees").glob("*.jsonl")) for line in shard.open("rb")]


def check_exactly_once(out: Path) -> list[SearchTree]:
    """Each problem once for readers and in every trace file; only failed records are ever superseded."""
    trees = list(RunDir(out).iter_trees())
    assert Counter(t.problem_id for t in trees).most_common(1)[0][1] == 1 and len(trees) == 12
    latest = {r["problem_id"]: r for r in records(out)}
    assert {t.problem_id: t.failed for t in trees} == {pid: r["failed"] for pid, r in latest.items()}
    finished = Counter(r["problem_id"] for r in records(out) if r["failed"] is None)
    assert not finished or finished.most_common(1)[0][1] == 1
    for path in (out / "traces").glob("*.jsonl"):
        ids = [orjson.loads(line)["problem_id"] for line in path.open("rb")]
        assert len(ids) == len(set(ids)), path
    assert not list(out.rglob("*.tmp"))
    return trees


FAULTS = [("status", 500, {}), ("drop",), ("malformed",), ("short", 1), ("context",), ("hang", 1.0)]


def test_a_run_through_every_fault_ends_done_or_failed_and_a_rerun_heals_it(serve, tokenizer_dir, tmp_path, capsys):
    # every third request misbehaves; no retries, so some searches fail, each with its reason
    server = serve(lambda count, body: FAULTS[count // 3 % len(FAULTS)] if count % 3 == 0 else None)
    out = tmp_path / "run"
    assert synth(out, server.url, tokenizer_dir, "--breaker-failures", "0") == 0
    assert set(server.faults) == {fault[0] for fault in FAULTS}
    trees = check_exactly_once(out)
    failed = [t for t in trees if t.failed]
    assert failed and all(t.failed.startswith("policy: RuntimeError: policy.openai: request to") for t in failed)
    printed = capsys.readouterr().out
    assert f"{len(failed)} searches failed" in printed and "rerunning the same command retries them" in printed
    assert "proposals missing" in printed

    server.fault = lambda count, body: None  # healed
    assert synth(out, server.url, tokenizer_dir) == 0
    assert f"searched {len(failed)} ({len(failed)} failed before, retried)" in capsys.readouterr().out
    trees = check_exactly_once(out)
    assert not any(t.failed for t in trees)
    assert len(records(out)) == 12 + len(failed)  # the failed records stay, superseded
    stats = orjson.loads((out / "stats.json").read_bytes())
    assert stats["problems"] == 12 and stats["failed"] == 0


def test_a_server_that_dies_stops_the_run_and_a_rerun_finishes_it(serve, tokenizer_dir, tmp_path, capsys):
    server = serve(die_after=5)
    out = tmp_path / "run"
    start = time.monotonic()
    assert synth(out, server.url, tokenizer_dir, "--breaker-failures", "3") == 1
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("metacot: stopped: the backend is failing (3 searches in a row failed")
    assert "policy.openai: request to" in err and "rerun the same command to resume" in err
    kept = records(out)
    # the searches still waiting when the breaker tripped are not written; those it failed before are, in order
    failed = [r["problem_id"] for r in kept if r["failed"] is not None]
    assert len(failed) >= 3 and [r["problem_id"] for r in kept] == sorted(r["problem_id"] for r in kept)
    stats = orjson.loads((out / "stats.json").read_bytes())  # traces and stats of the finished work are written
    assert stats["problems"] == len(kept) and stats["failed"] == len(failed)

    server.revive()
    assert synth(out, server.url, tokenizer_dir) == 0
    assert f"({len(failed)} failed before, retried)" in capsys.readouterr().out
    assert not any(t.failed for t in check_exactly_once(out))


def test_no_retry_failed_keeps_failed_searches(serve, tokenizer_dir, tmp_path, capsys):
    server = serve(lambda count, body: ("status", 500, {}) if body["seed"] % 2 else None)
    out = tmp_path / "run"
    assert synth(out, server.url, tokenizer_dir, "--breaker-failures", "0") == 0
    failed = {t.problem_id for t in RunDir(out).iter_trees() if t.failed}
    assert failed
    before = len(records(out))
    server.fault = lambda count, body: None
    assert synth(out, server.url, tokenizer_dir, "--no-retry-failed") == 0
    assert "searched 0 now" in capsys.readouterr().out and len(records(out)) == before
    assert {t.problem_id for t in check_exactly_once(out) if t.failed} == failed


def test_transport_settings_may_change_on_a_rerun(serve, tokenizer_dir, tmp_path, capsys, monkeypatch):
    first_server, second_server = serve(), serve()
    out = tmp_path / "run"
    assert synth(out, first_server.url, tokenizer_dir) == 0
    monkeypatch.setenv("OTHER_KEY", "sk-other")
    moved = ["--set", "policy.openai.api_key_env=OTHER_KEY", "--set", "policy.openai.concurrency=2"]
    assert synth(out, second_server.url, tokenizer_dir, "--set", "policy.openai.timeout=3", *moved) == 0
    assert second_server.count == 0  # nothing left to search: accepted, not refused
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    changes = manifest["config_changes"][-1]["settings"]
    assert changes["policy.openai.base_url"] == second_server.url and changes["policy.openai.timeout"] == 3.0
    assert manifest["config"]["policy"]["openai"]["base_url"] == first_server.url  # what the run was made with
    capsys.readouterr()
    assert synth(out, second_server.url, tokenizer_dir, "--set", "policy.openai.temperature=0.5") == 2
    assert "differing keys: policy.openai.temperature" in capsys.readouterr().err


def test_transient_faults_change_no_tree(serve, tokenizer_dir):
    """Retried and hedged requests get the answers the clean server gives (each drawn from its prompt and seed),
    and each search receives them whenever they come: the trees are the clean run's."""
    faults = [("hang", 1.0), ("status", 500, {}), ("status", 429, {}), ("drop",)]
    transient = lambda count, body: faults[count % 4] if count % 7 == 0 else None  # noqa: E731
    search = make_search("mcts", MCTSConfig(simulations=12))
    trees = []
    for fault in (lambda count, body: None, transient):
        server = serve(fault, answer=countdown_steps)
        runner = Runner(
            DOMAIN, policy(server.url, tokenizer_dir, timeout=0.5), CountdownOraclePRM(), search, "mcts", concurrency=4
        )
        trees.append([tree.to_dict()["nodes"] for tree in runner.run(generate_problems(6, 2))])
    assert set(server.faults) == {"hang", "status", "drop"}
    assert trees[0] == trees[1] and sum(map(len, trees[0])) > 6 * 10
