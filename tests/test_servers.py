"""Several copies of a server behind the OpenAI policy and the HTTP PRM (tests/fault_server.py): requests go to the
least busy copy, a failing copy sits out its cool-down and comes back, and the trees are the same whichever copy
answered."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from conftest import run_traces, run_trees

pytest.importorskip("openai")
pytest.importorskip("transformers")

import test_faults  # noqa: E402
from fault_server import SERVED  # noqa: E402
from test_faults import DOMAIN, PROBLEMS, check_exactly_once, policy, requests, synth  # noqa: E402

from metacot.cli import main  # noqa: E402
from metacot.config import ConfigError, load_config  # noqa: E402
from metacot.prm.base import ScoreRequest  # noqa: E402
from metacot.prm.http import HTTPPRM, HTTPPRMConfig  # noqa: E402
from metacot.prm.readout import single_token_id  # noqa: E402
from metacot.tree import SearchTree  # noqa: E402

serve = test_faults.serve  # its fixture, used here too


def answer(body: dict) -> str:
    """A step that depends on the request's seed and prompt: a copy that mixed requests up would show."""
    value = (body["seed"] + len(body["prompt"])) % 7
    return f"{value} + 1 = {value + 1}"


# --- settings ---------------------------------------------------------------------------------------------


def test_base_url_takes_a_list_a_comma_separated_string_or_one_url(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[policy.openai]\nbase_url = ["http://a/v1", "http://b/v1"]\n[prm.http]\nbase_url = "http://c"\n')
    config = load_config(path)
    assert config.policy.openai.base_url == ["http://a/v1", "http://b/v1"] and config.prm.http.base_url == "http://c"
    for bad, why in [("[]", "needs at least one URL"), ("3", "expected str or list"), ("[1]", "expected str or list")]:
        path.write_text(f"[policy.openai]\nbase_url = {bad}\n")
        with pytest.raises(ConfigError, match=f"policy.openai.base_url: {why}"):
            load_config(path)
    path.write_text("[prm.http]\ncooldown = -1\n")
    with pytest.raises(ConfigError, match="prm.http.cooldown: must be"):
        load_config(path)


def test_the_servers_and_their_cooldown_are_outside_the_config_hash():
    config = load_config(None)
    config.policy.backend, config.prm.backend = "openai", "http"
    before = config.hash()
    config.policy.openai.base_url = ["http://a/v1", "http://b/v1"]
    config.prm.http.base_url, config.policy.openai.cooldown, config.prm.http.cooldown = "http://a,http://b", 1.0, 2.0
    assert config.hash() == before


# --- the policy -------------------------------------------------------------------------------------------


def test_requests_go_to_the_server_with_the_fewest_outstanding(serve, tokenizer_dir):
    slow, fast = serve(lambda count, body: ("hang", 0.5)), serve()
    proposals = policy([slow.url, fast.url], tokenizer_dir, concurrency=2).propose(requests() * 2)
    assert [len(p) for p in proposals] == [2] * 8
    assert (slow.count, fast.count) == (1, 7)  # round robin would give each 4


def test_a_server_failing_after_its_retries_leaves_the_rotation_and_the_request_moves_on(serve, tokenizer_dir, caplog):
    failing, healthy = serve(lambda count, body: ("status", 500, {})), serve()
    p = policy([failing.url, healthy.url], tokenizer_dir, max_retries=1, cooldown=60.0, concurrency=1)
    assert [len(x) for x in p.propose(requests())] == [2] * 4
    assert (failing.count, healthy.count) == (2, 4)  # the first request: two attempts there, then the other
    assert f"{failing.url} out of rotation for 60 s: request to {failing.url} failed after 2 attempts" in caplog.text


def test_a_dead_server_is_left_at_once_and_comes_back_after_the_cooldown(serve, tokenizer_dir, caplog):
    caplog.set_level(logging.INFO)
    dying, healthy = serve(), serve()
    p = policy([dying.url, healthy.url], tokenizer_dir, max_retries=3, backoff=5.0, cooldown=2.0, concurrency=2)
    p.propose(requests())
    assert dying.count > 0 and healthy.count > 0  # both take requests
    dying.stop()
    start, before = time.monotonic(), healthy.count
    assert [len(x) for x in p.propose(requests() * 2)] == [2] * 8
    assert time.monotonic() - start < 2  # no backoff: a refused connection moves the request on
    assert healthy.count == before + 8
    dying.revive()
    counted = dying.count
    p.propose(requests())
    assert dying.count == counted  # still cooling down
    time.sleep(2.0)
    p.propose(requests())
    assert dying.count > counted and f"{dying.url} back in rotation" in caplog.text


def test_a_request_every_server_fails_is_a_failure_naming_each(serve, tokenizer_dir):
    a, b = serve(lambda count, body: ("status", 500, {})), serve(lambda count, body: ("status", 503, {}))
    p = policy([a.url, b.url], tokenizer_dir, max_retries=1)
    pattern = rf"policy.openai: request to {a.url} failed after 2 attempts: HTTP 500.*; request to {b.url} failed"
    with pytest.raises(RuntimeError, match=pattern):
        p.propose(requests()[:1])


def test_a_server_down_at_the_start_starts_out_of_rotation_unless_all_are(serve, tokenizer_dir, caplog):
    down, up = serve(), serve()
    down.stop()
    p = policy([down.url, up.url], tokenizer_dir, max_retries=0)
    assert [len(x) for x in p.propose(requests())] == [2] * 4 and up.count == 4
    assert f"{down.url} out of rotation" in caplog.text
    up.stop()
    with pytest.raises(ConnectionError, match=f"no server answers at {down.url}.*no server answers at {up.url}"):
        policy(f"{down.url},{up.url}", tokenizer_dir)


def test_a_run_whose_server_dies_finishes_on_the_other_with_the_same_trees(serve, tokenizer_dir, tmp_path):
    single = serve(answer=answer)
    assert synth(tmp_path / "one", single.url, tokenizer_dir) == 0
    dying, healthy = serve(answer=answer, die_after=12), serve(answer=answer)
    cooldown = ("--set", "policy.openai.cooldown=0.2")  # it is tried again, and refuses again, during the run
    assert synth(tmp_path / "two", f"{dying.url},{healthy.url}", tokenizer_dir, *cooldown) == 0
    assert dying.faults and dying.count > 12 and healthy.count > 0
    assert not any(t.failed for t in check_exactly_once(tmp_path / "two"))
    assert run_trees(tmp_path / "two") == run_trees(tmp_path / "one")
    assert run_traces(tmp_path / "two") == run_traces(tmp_path / "one")


# --- the HTTP PRM -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rows(tokenizer_dir):
    """A pooling server's rows for the step-tag style: one P(good) per marker, from the tokens before it."""
    from transformers import AutoTokenizer

    marker = single_token_id(AutoTokenizer.from_pretrained(tokenizer_dir), "ки", "step_tag")
    return lambda ids: [[sum(ids[:i]) % 89 / 89] for i, token in enumerate(ids) if token == marker]


def score_requests() -> list[ScoreRequest]:
    out = []
    for problem in PROBLEMS:
        tree = SearchTree.with_root(problem.id, DOMAIN.problem_to_dict(problem), problem.numbers)
        node = tree.root
        for step in ["25 - 19 = 6", "x y", "6 * 4 = 24"]:
            node = tree.add_child(node, step)
            out.append(ScoreRequest(problem=problem, tree=tree, node=node, seed=0))
    return out


def prm(base_url: str | list[str], tokenizer: str, **overrides) -> HTTPPRM:
    settings = dict(base_url=base_url, model=SERVED, tokenizer=tokenizer, backoff=0.01, timeout=2.0)
    return HTTPPRM(HTTPPRMConfig(**(settings | overrides)), DOMAIN)


def test_the_prm_splits_a_round_between_servers_and_scores_alike(serve, tokenizer_dir, rows):
    single, a, b = serve(rows=rows), serve(rows=rows), serve(rows=rows)
    paths = score_requests()
    want = prm(single.root, tokenizer_dir).step_scores(paths)
    two = prm([a.root, b.root], tokenizer_dir, max_retries=0)
    assert two.step_scores(paths) == want and (a.count, b.count) == (1, 1)
    a.stop()
    assert two.step_scores(paths) == want and b.count == 3  # its half, then the dead one's


def test_a_run_whose_prm_server_dies_finishes_on_the_other_with_the_same_trees(serve, tokenizer_dir, rows, tmp_path):
    def run(out: Path, url: str) -> int:
        settings = [f"prm.http.{key}={value}" for key, value in [("tokenizer", tokenizer_dir), ("max_retries", 0)]]
        flags = ["synth", "--out", str(out), "--no-progress", "--num-problems", "12", "--concurrency", "4"]
        flags += ["--prm", "http", "--prm-model", SERVED, "--prm-base-url", url, "--search", "mcts"]
        return main([*flags, "--set", "search.mcts.simulations=3", *(a for s in settings for a in ("--set", s))])

    single = serve(rows=rows)
    assert run(tmp_path / "one", single.root) == 0
    dying, healthy = serve(rows=rows, die_after=4), serve(rows=rows)
    assert run(tmp_path / "two", f"{dying.root},{healthy.root}") == 0
    assert dying.faults and healthy.count > dying.count
    assert not any(t.failed for t in check_exactly_once(tmp_path / "two"))
    assert run_trees(tmp_path / "two") == run_trees(tmp_path / "one")
    assert run_traces(tmp_path / "two") == run_traces(tmp_path / "one")
