"""The OpenAI-compatible policy and the pooling PRM client against real vLLM servers and a scripted stub server."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from metacot.policy.base import ExpandRequest
from metacot.prm.base import ScoreRequest
from metacot.problems.countdown import CountdownDomain, CountdownProblem, generate_problems
from metacot.tree import SearchTree

ENV = {
    "VLLM_HOST_IP": "127.0.0.1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
}
for _name, _value in ENV.items():
    os.environ.setdefault(_name, _value)
pytest.importorskip("openai")
pytest.importorskip("transformers")

from transformers import AutoTokenizer  # noqa: E402

from metacot.backends.generate import Sampling  # noqa: E402
from metacot.backends.models import added_bos  # noqa: E402
from metacot.policy.openai import OpenAIPolicy, OpenAIPolicyConfig  # noqa: E402
from metacot.policy.vllm import VLLMPolicy, VLLMPolicyConfig  # noqa: E402
from metacot.prm.http import HTTPPRM, HTTPPRMConfig, server_flags  # noqa: E402
from metacot.prm.readout import Readout  # noqa: E402
from metacot.prm.transformers import TransformersPRM, TransformersPRMConfig  # noqa: E402

DOMAIN = CountdownDomain()
PROBLEMS = generate_problems(8, 11)
KEY = "sk-metacot-test-3f9c1e7a"  # a made-up key: it must reach the server and appear nowhere else
KEY_ENV = "METACOT_TEST_API_KEY"
SERVED = "tiny"
# The checkpoint's sampling defaults off, as in the offline engine; chunked prefill off on CPU (see VLLMPolicyConfig).
POLICY_FLAGS = ("--api-key", KEY, "--generation-config", "vllm", "--no-enable-chunked-prefill")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """`python -m vllm.entrypoints.openai.api_server` in its own process group, its output in a log file."""

    def __init__(self, model: str, log: Path, *flags: str):
        self.port, self.log = free_port(), log
        command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--served-model-name", SERVED]
        command += ["--dtype", "float32", "--max-model-len", "512", "--enforce-eager", *flags]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=os.environ | ENV, start_new_session=True
            )
        self.url = f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the vLLM server exited: {self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def servers(lm_dir, tmp_path_factory):
    """A completions server that needs KEY and a Math-Shepherd style pooling PRM server, started side by side."""
    pytest.importorskip("vllm")
    logs = tmp_path_factory.mktemp("server-logs")
    reader = Readout(AutoTokenizer.from_pretrained(lm_dir), HTTPPRMConfig(), DOMAIN, "prm.http")
    started = []
    try:
        started.append(VLLMServer(lm_dir, logs / "policy.log", *POLICY_FLAGS))
        started.append(VLLMServer(lm_dir, logs / "prm.log", *server_flags(reader)))
        deadline = time.monotonic() + 240
        while not all(s.ready() for s in started):
            assert time.monotonic() < deadline, "the vLLM servers did not start in 240 s"
            time.sleep(0.5)
        yield tuple(started)
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def expand_requests(problems: list[CountdownProblem], n: int, seed: int = 500) -> list[ExpandRequest]:
    requests = []
    for i, problem in enumerate(problems):
        tree = SearchTree.with_root(problem.id, DOMAIN.problem_to_dict(problem), problem.numbers)
        requests.append(ExpandRequest(problem=problem, tree=tree, node=tree.root, n=n, seed=seed + i))
    return requests


def assert_same(got: list[list], want: list[list]) -> None:
    """Equal proposals, up to float noise in the log-probabilities (batches differ on the server)."""
    for g, w in zip(got, want, strict=True):
        assert [(p.text, p.tokens, p.finish_reason) for p in g] == [(p.text, p.tokens, p.finish_reason) for p in w]
        assert [p.logprob for p in g] == pytest.approx([p.logprob for p in w], abs=1e-4)


def policy_config(base_url: str, lm_dir: str, **overrides) -> OpenAIPolicyConfig:
    settings = dict(base_url=base_url, model=SERVED, tokenizer=lm_dir, api_key_env=KEY_ENV, max_tokens=16)
    return OpenAIPolicyConfig(**(settings | overrides))


# --- against a real vLLM server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def offline(lm_dir) -> VLLMPolicy:
    """The offline engine on the servers' model, one for the module (deleting an engine tears down shared state)."""
    config = VLLMPolicyConfig(model=lm_dir, dtype="float32", max_model_len=512, enforce_eager=True, max_tokens=16)
    return VLLMPolicy(config, DOMAIN)


@pytest.mark.vllm
def test_proposals_through_the_server_equal_the_offline_engine(servers, offline, lm_dir, key, caplog):
    caplog.set_level(logging.DEBUG)
    policy = OpenAIPolicy(policy_config(f"{servers[0].url}/v1", lm_dir), DOMAIN)
    requests = expand_requests(PROBLEMS, 3)
    proposals = policy.propose(requests)
    assert [len(p) for p in proposals] == [3] * len(PROBLEMS)
    for p in (p for props in proposals for p in props):
        assert "\n" not in p.text and p.finish_reason in ("stop", "length")
        assert 1 <= p.tokens <= 16 and p.logprob < 0
    assert_same(policy.propose(requests[::-1])[::-1], proposals)  # seeded per request, whatever the order
    assert_same(offline.propose(requests), proposals)
    assert policy.rollout(requests[:3]) == offline.rollout(requests[:3])
    assert KEY not in caplog.text


@pytest.mark.vllm
def test_texts_through_the_server_equal_the_offline_engine(servers, offline, lm_dir, key):
    policy = OpenAIPolicy(policy_config(f"{servers[0].url}/v1", lm_dir), DOMAIN)
    prompts = [DOMAIN.prompt(p) for p in PROBLEMS] + [DOMAIN.prompt(PROBLEMS[0])]
    texts = policy.generate(prompts, Sampling(max_tokens=24, seed=9))
    assert texts == offline.generate(prompts, Sampling(max_tokens=24, seed=9)) and any(texts)
    raw = [policy.prompts.render(p) for p in prompts]  # the chat text, continued as a raw completion
    texts = policy.generate(raw, Sampling(max_tokens=24, seed=9, stop=("\n",), chat=False))
    assert texts == offline.generate(raw, Sampling(max_tokens=24, seed=9, stop=("\n",), chat=False)) and any(texts)
    assert all("\n" not in text for text in texts)


@pytest.mark.vllm
def test_a_refused_key_is_named_by_its_variable_never_shown(servers, lm_dir, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = KEY + "-wrong"
    monkeypatch.setenv(KEY_ENV, wrong)
    with pytest.raises(ValueError, match=f"policy.openai.api_key_env: .* refused the key in \\${KEY_ENV}") as error:
        OpenAIPolicy(policy_config(f"{servers[0].url}/v1", lm_dir), DOMAIN)
    for text in (str(error.value), repr(error.value), caplog.text, servers[0].log.read_text()):
        assert KEY not in text and wrong not in text


@pytest.mark.vllm
def test_pooling_prm_scores_equal_the_transformers_prm(servers, lm_dir):
    prm = HTTPPRM(HTTPPRMConfig(base_url=servers[1].url, model=SERVED, tokenizer=lm_dir), DOMAIN)
    reference = TransformersPRM(TransformersPRMConfig(model=lm_dir), DOMAIN)
    requests = []
    for problem in PROBLEMS[:4]:
        tree = SearchTree.with_root(problem.id, DOMAIN.problem_to_dict(problem), problem.numbers)
        node = tree.root
        for step in ["25 - 19 = 6", "x y", "6 * 4 = 24"]:
            node = tree.add_child(node, step)
            requests.append(ScoreRequest(problem=problem, tree=tree, node=node, seed=0))
    got, want = prm.step_scores(requests), reference.step_scores(requests)
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=1e-4)
    assert prm.score(requests) == pytest.approx(reference.score(requests), abs=1e-4)


# --- against a scripted stub server ----------------------------------------------------------------


class Stub:
    """An OpenAI-compatible stub: lists one model, answers /v1/completions with the scripted statuses in turn
    (then 200), and records every request's path and Authorization header."""

    def __init__(self, statuses: list[int]):
        self.statuses, self.seen, self.bodies = list(statuses), [], []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                stub.seen.append((self.path, self.headers.get("Authorization")))
                self.reply(200, {"object": "list", "data": [{"id": SERVED, "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.seen.append((self.path, self.headers.get("Authorization")))
                stub.bodies.append(body)
                status = stub.statuses.pop(0) if stub.statuses else 200
                self.reply(status, completion(body["n"]) if status == 200 else {"error": {"message": "busy"}})

            def reply(self, status: int, data: dict) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def posts(self) -> list[str]:
        return [path for path, _ in self.seen if path.endswith("/completions")]


def completion(n: int) -> dict:
    choices = [
        {
            "index": i,
            "text": f"{i} + 1 = {i + 1}",
            "finish_reason": "length" if i == 1 else "stop",
            "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-0.5, -0.25], "top_logprobs": None},
        }
        for i in range(n)
    ]
    return {"id": "c", "object": "text_completion", "created": 0, "model": SERVED, "choices": choices}


@pytest.fixture
def stub(request):
    stub = Stub(request.param)
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


@pytest.mark.parametrize("stub", [[503, 503]], indirect=True)
def test_retries_after_server_errors_and_sends_the_key(stub, lm_dir, key, caplog):
    caplog.set_level(logging.DEBUG)
    policy = OpenAIPolicy(policy_config(stub.url, lm_dir, backoff=0.01, max_retries=3), DOMAIN)
    (proposals,) = policy.propose(expand_requests(PROBLEMS[:1], 2))
    assert [(p.text, p.tokens, p.logprob, p.finish_reason) for p in proposals] == [
        ("0 + 1 = 1", 2, -0.75, "stop"),
        ("1 + 1 = 2", 2, -0.75, "length"),
    ]
    assert stub.posts() == ["/v1/completions"] * 3
    assert {auth for _, auth in stub.seen} == {f"Bearer {KEY}"}
    assert caplog.text.count("HTTP 503") == 2 and KEY not in caplog.text
    assert stub.bodies[-1]["stop"] == ["\n"] and stub.bodies[-1]["max_tokens"] == 16
    assert policy.rollout(expand_requests(PROBLEMS[:1], 2)) == [[["0 + 1 = 1"], ["1 + 1 = 2"]]]
    assert "stop" not in stub.bodies[-1] and stub.bodies[-1]["max_tokens"] == 256


@pytest.mark.parametrize("stub", [[503]], indirect=True)
def test_generate_sends_one_request_per_prompt_each_with_its_seed(stub, lm_dir, key):
    policy = OpenAIPolicy(policy_config(stub.url, lm_dir, backoff=0.01), DOMAIN)
    prompts = ["first", "second", "first"]
    texts = policy.generate(prompts, Sampling(max_tokens=5, stop=("END",), seed=4))
    assert texts == ["0 + 1 = 1"] * 3
    assert stub.posts() == ["/v1/completions"] * 4  # one retried after a 503
    bodies = stub.bodies[1:]
    chat = [[{"role": "user", "content": p}] for p in prompts]
    tokenizer = AutoTokenizer.from_pretrained(lm_dir)
    rendered = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in chat]
    assert sorted(b["prompt"] for b in bodies) == sorted(rendered)
    assert all(b["n"] == 1 and b["stop"] == ["END"] and b["max_tokens"] == 5 for b in bodies)
    assert len({b["seed"] for b in bodies}) == 3
    policy.generate(["raw text"], Sampling(chat=False))
    assert stub.bodies[-1]["prompt"] == "raw text" and "stop" not in stub.bodies[-1]


@pytest.mark.parametrize("stub", [[503] * 10], indirect=True)
def test_gives_up_after_max_retries(stub, lm_dir, key):
    policy = OpenAIPolicy(policy_config(stub.url, lm_dir, backoff=0.01, max_retries=2), DOMAIN)
    with pytest.raises(RuntimeError, match=r"policy\.openai: request to .* failed after 3 attempts: HTTP 503") as error:
        policy.propose(expand_requests(PROBLEMS[:1], 2))
    assert len(stub.posts()) == 3 and KEY not in str(error.value)


@pytest.mark.parametrize("stub", [[400]], indirect=True)
def test_a_bad_request_is_not_retried(stub, lm_dir, key):
    policy = OpenAIPolicy(policy_config(stub.url, lm_dir, backoff=0.01), DOMAIN)
    with pytest.raises(RuntimeError, match="HTTP 400"):
        policy.propose(expand_requests(PROBLEMS[:1], 2))
    assert len(stub.posts()) == 1


@pytest.mark.parametrize("stub", [[]], indirect=True)
def test_a_model_the_server_does_not_serve_is_named(stub, lm_dir, key):
    with pytest.raises(ValueError, match=r"policy\.openai\.model: 'other' is not served"):
        OpenAIPolicy(policy_config(stub.url, lm_dir, model="other"), DOMAIN)


def test_an_unreachable_server_fails_fast_naming_base_url(lm_dir, key):
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=rf"policy\.openai\.base_url: no server answers at {url}"):
        OpenAIPolicy(policy_config(url, lm_dir, max_retries=5, backoff=1.0), DOMAIN)
    with pytest.raises(ConnectionError, match=r"prm\.http\.base_url: no server answers"):
        HTTPPRM(HTTPPRMConfig(base_url=url.removesuffix("/v1"), model=SERVED, tokenizer=lm_dir), DOMAIN)
    assert time.monotonic() - start < 5


def test_a_missing_tokenizer_folder_is_named(tmp_path, key):
    with pytest.raises(ValueError, match=r"policy\.openai\.tokenizer: need a local folder"):
        OpenAIPolicy(policy_config("http://127.0.0.1:1/v1", str(tmp_path / "none")), DOMAIN)
    with pytest.raises(ValueError, match=r"policy\.openai\.model: need a local folder"):
        OpenAIPolicy(policy_config("http://127.0.0.1:1/v1", "", model="served-name"), DOMAIN)


def test_a_bos_the_server_adds_is_recognized(lm_dir):
    from tokenizers.processors import TemplateProcessing

    tokenizer = AutoTokenizer.from_pretrained(lm_dir)
    assert added_bos(tokenizer) == ""
    bos = "<|endoftext|>"
    tokenizer.bos_token = bos
    assert added_bos(tokenizer) == ""  # a BOS the tokenizer never adds stays in the prompt
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tokenizer.convert_tokens_to_ids(bos))]
    )
    assert added_bos(tokenizer) == bos
