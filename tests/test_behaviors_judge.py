"""The LLM judge end to end: through the transformers backend with the tiny local model (its answers are garbage:
unparsed), and through the OpenAI backend against a local server whose answers the test scripts (batched, resumable)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import orjson
import pytest
from behaviors_fixtures import FIXTURES

from metacot.backends.generate import prompt_lengths
from metacot.behaviors import BEHAVIORS
from metacot.cli import main

os.environ["HF_HUB_OFFLINE"] = "1"
pytest.importorskip("transformers")

from tiny_models import single_thread  # noqa: E402


def write_records(path: Path, count: int) -> Path:
    records = [{"completion": f.completion, "prompt": f"Make {f.target} from {list(f.nums)}."} for f in FIXTURES]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records[:count]))
    return path


def rows(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


class GenerateCalls:
    """Counts a policy class's generate calls, their prompts and their tokens (every prompt padded to the longest,
    plus the tokens it may generate)."""

    def __init__(self, cls, monkeypatch):
        self.sizes: list[int] = []
        self.tokens: list[int] = []
        inner = cls.generate

        def generate(policy, prompts, sampling):
            self.sizes.append(len(prompts))
            longest = max(prompt_lengths(policy.tokenizer, prompts, sampling.chat))
            self.tokens.append(len(prompts) * (longest + sampling.max_tokens))
            return inner(policy, prompts, sampling)

        monkeypatch.setattr(cls, "generate", generate)


def test_the_tiny_transformers_judge_answers_garbage_and_every_count_is_unparsed(
    long_lm_dir, tmp_path, capsys, monkeypatch
):
    from metacot.policy.transformers import TransformersPolicy

    calls = GenerateCalls(TransformersPolicy, monkeypatch)
    data = write_records(tmp_path / "x.jsonl", 3)
    args = ["behaviors", str(data), "--tagger", "llm", "--judge-model", long_lm_dir, "--judge-max-tokens", "6"]
    with single_thread():
        assert main([*args, "--no-progress", "--out", str(tmp_path / "o")]) == 0
    assert calls.sizes == [3 * len(BEHAVIORS)]
    written = rows(tmp_path / "o" / "llm.jsonl")
    assert len(written) == 3 and all(r[name] is None for r in written for name in BEHAVIORS)
    assert all(r["tagger"] == f"llm:transformers:{long_lm_dir}" for r in written)
    row = capsys.readouterr().out.splitlines()[2].split()
    assert row[:2] == ["x.jsonl", "3"] and row[2:6] == ["-"] * 4 and row[-1] == str(3 * len(BEHAVIORS))


def test_the_judge_splits_a_round_into_calls_within_its_token_budget(long_lm_dir, tmp_path, monkeypatch):
    from metacot.policy.transformers import TransformersPolicy

    calls = GenerateCalls(TransformersPolicy, monkeypatch)
    data = write_records(tmp_path / "x.jsonl", 3)
    args = ["behaviors", str(data), "--tagger", "llm", "--judge-model", long_lm_dir, "--judge-max-tokens", "2"]
    with single_thread():
        assert main([*args, "--no-progress", "--out", str(tmp_path / "o"), "--judge-batch-tokens", "1500"]) == 0
    assert len(calls.sizes) > 1 and sum(calls.sizes) == 3 * len(BEHAVIORS)  # one round of 3 records
    assert all(tokens <= 1500 for tokens in calls.tokens), calls.tokens
    assert len(rows(tmp_path / "o" / "llm.jsonl")) == 3


# --- through an OpenAI-compatible server ----------------------------------------------------------------------------

SCRIPT = {
    "verification": "<count>2</count>",
    "backtracking": "I count one. <count>1</count>",
    "subgoal setting": "no idea",
    "backward chaining": "<count>0</count>",
}
SCRIPTED = {"verification": 2, "backtracking": 1, "subgoal_setting": None, "backward_chaining": 0}


class Judge:
    """Scripted answers by the behaviour named in the prompt; how many requests were in flight at once."""

    def __init__(self):
        self.lock, self.in_flight, self.most = threading.Lock(), 0, 0

    def __call__(self, body: dict) -> str:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(0.02)
        with self.lock:
            self.in_flight -= 1
        return next(answer for name, answer in SCRIPT.items() if f"Behaviour: {name}\n" in body["prompt"])


@pytest.fixture
def server():
    pytest.importorskip("openai")
    from fault_server import FaultServer

    started = FaultServer(answer=Judge())
    yield started
    with contextlib.suppress(OSError):
        started.stop()


def judge_args(server, tokenizer_dir: str, data: Path, out: Path) -> list[str]:
    return [
        "behaviors",
        str(data),
        "--tagger",
        "llm",
        "--judge-backend",
        "openai",
        "--judge-model",
        "tiny",
        "--set",
        f"judge.openai.base_url={server.url}",
        "--set",
        f"judge.openai.tokenizer={tokenizer_dir}",
        "--set",
        "judge.openai.backoff=0.01",
        "--batch",
        "2",
        "--no-progress",
        "--out",
        str(out),
    ]


def test_the_openai_judge_sends_each_round_in_one_call_and_reads_the_scripted_counts(
    server, tokenizer_dir, tmp_path, capsys, monkeypatch
):
    from metacot.policy.openai import OpenAIPolicy

    calls = GenerateCalls(OpenAIPolicy, monkeypatch)
    data = write_records(tmp_path / "x.jsonl", 5)
    assert main(judge_args(server, tokenizer_dir, data, tmp_path / "o")) == 0
    width = len(BEHAVIORS)
    assert calls.sizes == [2 * width, 2 * width, width]  # one generate call per round of 2 records
    assert server.count == 5 * width and server.answer.most > 1  # one request per prompt, sent concurrently
    written = rows(tmp_path / "o" / "llm.jsonl")
    assert [r["index"] for r in written] == [0, 1, 2, 3, 4]
    assert all({name: r[name] for name in BEHAVIORS} == SCRIPTED for r in written)
    row = capsys.readouterr().out.splitlines()[2].split()
    # the judge gives no strict backtracking reading: "-" before the unparsed count
    assert row == ["x.jsonl", "5", "100%", "(2.00)", "100%", "(1.00)", "-", "0%", "(0.00)", "-", "5"]


def test_a_rerun_asks_only_what_it_has_not_answered(server, tokenizer_dir, tmp_path, capsys):
    data = write_records(tmp_path / "x.jsonl", 5)
    out = tmp_path / "o"
    width = len(BEHAVIORS)
    server.fault = lambda count, body: ("status", 400, {}) if count > 2 * width else None  # the 2nd round fails
    assert main(judge_args(server, tokenizer_dir, data, out)) == 1
    error = capsys.readouterr().err
    assert "HTTP 400" in error and "keeps the 2 records counted so far: rerun to resume" in error
    assert [r["index"] for r in rows(out / "llm.jsonl")] == [0, 1]  # the first round, written as it finished
    deadline = time.monotonic() + 10
    while server.count < 4 * width and time.monotonic() < deadline:  # the failed round's other requests land
        time.sleep(0.01)
    server.fault, server.count = (lambda count, body: None), 0
    assert main(judge_args(server, tokenizer_dir, data, out)) == 0
    assert server.count == 3 * width
    assert "(2 from an earlier run)" in capsys.readouterr().out
    server.count = 0
    assert main(judge_args(server, tokenizer_dir, data, out)) == 0
    assert server.count == 0 and "(5 from an earlier run)" in capsys.readouterr().out
    records = data.read_bytes().splitlines()
    records[3] = orjson.dumps({"completion": "A changed text: 3 * 8 = 24."})
    data.write_bytes(b"\n".join(records) + b"\n")
    assert main(judge_args(server, tokenizer_dir, data, out)) == 0
    assert server.count == width  # only the changed record is asked again
    assert [r["index"] for r in rows(out / "llm.jsonl")] == [0, 1, 2, 3, 4]
