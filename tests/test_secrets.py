"""Secrets are never written: a server that echoes the Authorization header in its error body leaves the API key in
no tree, page, card or line of output, and credentials in base_url reach no manifest, card or message; a server that
is down is one line, exit 2, naming its URL without them."""

from __future__ import annotations

import base64
import json
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_server import SERVED, FaultServer

from metacot.backends.secrets import redact, safe_settings, safe_url
from metacot.cli import main
from metacot.search.breaker import RunStopped

pytest.importorskip("openai")

KEY = "sk-echo-4f1d9c7e2b"
PASSWORD = "pa55-w0rd-91"
TOKEN = "qtok-7731"
BASIC = base64.b64encode(f"user:{PASSWORD}".encode()).decode()  # what the client sends for user:password@
SECRETS = (KEY, PASSWORD, TOKEN, BASIC)


@pytest.fixture
def echo() -> Iterator[FaultServer]:
    """A server that answers every completions request with HTTP 500 repeating the request's headers."""
    server = FaultServer(fault=lambda count, body: ("echo", 500))
    yield server
    server.stop()


def leaks(folder: Path, output: str) -> list[str]:
    """Each file under the folder (hidden ones too), and the output, that holds one of the secrets."""
    found = [str(p) for p in folder.rglob("*") if p.is_file() and any(s.encode() in p.read_bytes() for s in SECRETS)]
    return found + (["the output"] if any(s in output for s in SECRETS) else [])


def echoed(echo: FaultServer, tokenizer_dir: str, userinfo: str) -> list[str]:
    """synth's flags for a run against the echoing server, its URL with `userinfo` and a credential parameter; the
    breaker stops it after two failed searches."""
    url = f"http://{userinfo}127.0.0.1:{echo.port}/v1?api_key={TOKEN}&region=eu"
    return [
        "--policy", "openai", "--policy-base-url", url, "--policy-model", SERVED,
        "--set", f"policy.openai.tokenizer={tokenizer_dir}", "--set", "policy.openai.api_key_env=ECHO_KEY",
        "--set", "policy.openai.max_retries=1", "--set", "policy.openai.backoff=0",
        "--set", "run.breaker_failures=2", "--num-problems", "3", "--no-progress",
    ]  # fmt: skip


@pytest.mark.parametrize("userinfo", ["", f"user:{PASSWORD}@"], ids=["bearer", "basic"])
def test_an_echoing_server_and_credentials_in_base_url_leave_no_secret_anywhere(
    echo, tokenizer_dir, tmp_path, monkeypatch, capsys, userinfo
):
    """With user:password in the URL the client sends Basic auth instead of the key: the echo carries that."""
    monkeypatch.setenv("ECHO_KEY", KEY)
    run = tmp_path / "run"
    assert main(["synth", *echoed(echo, tokenizer_dir, userinfo), "--out", str(run)]) == 1  # every request failed
    assert main(["view", str(run), "--no-progress"]) == 0
    output = capsys.readouterr()
    shown = "Basic ***" if userinfo else "Bearer ***"
    assert "failing" in output.err and shown in output.err  # the echo is reported, the key is not
    manifest = (run / "manifest.json").read_text()
    assert f"http://127.0.0.1:{echo.port}/v1?region=eu" in manifest
    failed = [line for shard in (run / "trees").glob("*.jsonl") for line in shard.read_text().splitlines()]
    assert failed and all(shown in line for line in failed)
    assert leaks(tmp_path, output.out + output.err) == []


def test_debug_output_against_an_echoing_server_holds_no_secret(echo, tokenizer_dir, tmp_path, monkeypatch, capsys):
    """--debug shows the traceback, with every exception chained in: the key and the credentials are in none."""
    monkeypatch.setenv("ECHO_KEY", KEY)
    with pytest.raises(RunStopped, match="the backend is failing") as stopped:
        main(["--debug", "synth", *echoed(echo, tokenizer_dir, f"user:{PASSWORD}@"), "--out", str(tmp_path / "run")])
    shown = "".join(traceback.format_exception(stopped.value))
    output = capsys.readouterr()
    assert "Basic ***" in shown + output.err
    assert leaks(tmp_path, shown + output.out + output.err) == []


def test_a_card_leaves_out_how_the_server_was_reached(tmp_path):
    from metacot.config import SynthConfig
    from metacot.outputs.card import chosen_settings

    config = SynthConfig()
    config.policy.backend = "openai"
    config.policy.openai.base_url = f"http://user:{PASSWORD}@gateway.example/v1?token={TOKEN}"
    config.policy.openai.model = SERVED
    config.behaviors.base_url = f"https://embed.example/v1?access_token={TOKEN}"
    settings = chosen_settings(config.to_dict())
    assert settings["policy"]["openai"]["model"] == SERVED
    assert not {"base_url", "api_key_env", "timeout", "max_retries"} & set(settings["policy"]["openai"])
    assert settings["behaviors"]["base_url"] == "https://embed.example/v1"
    assert not any(s in json.dumps(settings) for s in SECRETS)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"http://user:{PASSWORD}@host:8000/v1", "http://host:8000/v1"),
        (f"https://host/v1?api_key={TOKEN}&model=x&X-Amz-Signature=abc&sig=1", "https://host/v1?model=x"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    ],
)
def test_a_url_is_shown_without_its_credentials(url, shown):
    assert safe_url(url) == shown
    assert redact(f"no server at {url}, {url}") == f"no server at {shown}, {shown}"
    assert safe_settings({"a": [url], "b": 1}) == {"a": [shown], "b": 1}


def test_a_key_is_hidden_however_the_server_quotes_it():
    text = f'{{"Authorization": "Bearer {KEY}", "x-api-key": "{KEY}", "basic": "Basic dXNlcjpwYXNz"}}'
    hidden = redact(text, [KEY])
    assert KEY not in hidden and "dXNlcjpwYXNz" not in hidden and hidden.count("***") == 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_is_down_is_one_line_exit_2_naming_the_url_without_credentials(
    tokenizer_dir, tmp_path, capsys
):
    url = f"http://user:{PASSWORD}@127.0.0.1:{free_port()}/v1"
    argv = ["synth", "--policy", "openai", "--policy-base-url", url, "--policy-model", SERVED, "--no-progress"]
    argv += ["--set", f"policy.openai.tokenizer={tokenizer_dir}", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("metacot: error: policy.openai.base_url: no server answers at http://127.0.0.1:")
    assert PASSWORD not in err and not (tmp_path / "run").exists()
