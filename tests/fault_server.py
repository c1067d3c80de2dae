"""A misbehaving OpenAI-compatible completions server on 127.0.0.1 for fault-injection tests, scripted per request."""

from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from metacot.problems.countdown import CountdownDomain, CountdownProblem

SERVED = "tiny"
CONTEXT_MESSAGE = (
    "This model's maximum context length is 512 tokens. However, your prompt contains 900 input tokens, which "
    "exceeds this limit even without any output tokens. Please reduce the length of the input prompt."
)


def completion(n: int, text: Callable[[int], str] = lambda i: f"{i} + 1 = {i + 1}") -> dict:
    """A /v1/completions reply with n choices."""
    choices = [
        {
            "index": i,
            "text": text(i),
            "finish_reason": "stop",
            "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-0.5, -0.25], "top_logprobs": None},
        }
        for i in range(n)
    ]
    return {"id": "c", "object": "text_completion", "created": 0, "model": SERVED, "choices": choices}


COUNTDOWN = re.compile(r"Using the numbers \[([0-9, ]+)\], create an equation that equals (\d+)")
ASSISTANT = "<|im_start|>assistant\n"  # where the steps so far start in a ChatML prompt


def countdown_steps(body: dict) -> list[str]:
    """An `answer` for Countdown prompts: n legal next steps for the state the prompt's steps reached, drawn by the
    prompt and seed alone (a retried request gets the same answer; searches go as deep as with a real model)."""
    domain, prompt = CountdownDomain(), body["prompt"]
    found = COUNTDOWN.search(prompt)
    if found is None:
        raise ValueError("no Countdown problem in the prompt")
    numbers = tuple(int(n) for n in found.group(1).split(","))
    problem, state = CountdownProblem("served", numbers, int(found.group(2))), numbers
    for step in prompt.rsplit(ASSISTANT, 1)[-1].split(body["stop"][0])[:-1]:
        state = domain.apply_step(problem, state, step).state
    steps = domain.legal_steps(problem, state) or ["1 + 1 = 2"]
    draw = random.Random(hashlib.sha256(f"{body['seed']}\n{prompt}".encode()).digest())
    return [draw.choice(steps) for _ in range(body["n"])]


# A fault: what the server does with one completions request instead of answering it. None: it answers.
# ("status", code, headers) | ("drop",) | ("hang", seconds) | ("malformed",) | ("short", k) | ("context",)
# | ("echo", code): the status with the request's headers (Authorization too) in the error body, as some gateways do
Fault = tuple | None


class QuietServer(ThreadingHTTPServer):
    """Its handlers' errors (writing to a connection it dropped on purpose) are no test's output."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


def pooled(inputs: list[list[int]], rows: Callable[[list[int]], list[list[float]]]) -> dict:
    """A /pooling reply: each input's rows."""
    data = [{"index": i, "data": rows(ids)} for i, ids in enumerate(inputs)]
    return {"object": "list", "model": SERVED, "data": data}


class FaultServer:
    """Lists one model; answers POST /v1/completions (and POST /pooling) with `fault(count, body)`'s fault, or with
    n choices (each input's `rows(token_ids)`). `die_after`: after that many requests the server stops listening
    (connections are refused) until `revive()`, which listens again on the same port. `answer(body)`: the text of
    every choice of an answered request, or one text per choice (default: "i + 1 = ...")."""

    def __init__(
        self,
        fault: Callable[[int, dict], Fault] = lambda count, body: None,
        die_after: int | None = None,
        answer: Callable[[dict], str | list[str]] | None = None,
        rows: Callable[[list[int]], list[list[float]]] | None = None,
    ):
        self.fault, self.die_after, self.answer, self.rows = fault, die_after, answer, rows
        self.count = 0  # completions (or pooling) requests received
        self.faults: list[str] = []  # the faults served, by name
        self.lock = threading.Lock()
        self.port = 0
        self.stopped = False
        self._start()

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if server.stopped:  # a connection kept alive from before: a dead server closes it
                    return self.serve(("drop",), {})
                self.reply(200, {"object": "list", "data": [{"id": SERVED, "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if server.stopped:
                    return self.serve(("drop",), body)
                with server.lock:
                    server.count += 1
                    count = server.count
                    dying = server.die_after is not None and count > server.die_after
                    fault = ("drop",) if dying else server.fault(count, body)
                    if fault is not None:
                        server.faults.append(fault[0])
                if dying and count == server.die_after + 1:
                    threading.Thread(target=server.stop, daemon=True).start()
                self.serve(fault, body)

            def serve(self, fault: Fault, body: dict) -> None:
                if fault is None and self.path.endswith("/pooling"):
                    assert server.rows is not None, "a pooling request to a server without rows"
                    self.reply(200, pooled(body["input"], server.rows))
                elif fault is None and server.answer is not None:
                    text = server.answer(body)
                    texts = [text] * body["n"] if isinstance(text, str) else text
                    self.reply(200, completion(body["n"], lambda i: texts[i]))
                elif fault is None:
                    self.reply(200, completion(body["n"]))
                elif fault[0] == "status":
                    self.reply(fault[1], {"error": {"message": "busy", "code": fault[1]}}, fault[2])
                elif fault[0] == "echo":
                    said = f"upstream refused the request with Authorization: {self.headers.get('Authorization')}"
                    self.reply(fault[1], {"error": {"message": said, "headers": dict(self.headers)}})
                elif fault[0] == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                elif fault[0] == "hang":
                    time.sleep(fault[1])
                    self.reply(200, completion(body["n"]))
                elif fault[0] == "malformed":
                    self.reply(200, None, raw=b'{"id": "c", "choices": [{"index": 0, "te')
                elif fault[0] == "short":
                    self.reply(200, completion(fault[1]))
                elif fault[0] == "context":
                    error = {"message": CONTEXT_MESSAGE, "type": "BadRequestError", "param": None, "code": 400}
                    self.reply(400, {"error": error})
                else:
                    raise AssertionError(f"unknown fault {fault!r}")

            def reply(self, status: int, data: dict | None, headers: dict | None = None, raw: bytes = b"") -> None:
                payload = raw or json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.http = QuietServer(("127.0.0.1", self.port), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self) -> None:
        self.stopped = True
        self.http.shutdown()
        self.http.server_close()

    def revive(self) -> None:
        """Listen again on the same port, healed: no faults, no death."""
        self.fault, self.die_after, self.stopped = (lambda count, body: None), None, False
        self._start()
