"""`metacot handbook build`: reflect and distil over a run's trees on the transformers policy with the tiny model
(plumbing: its garbage gives zero behaviours, counted) and on a scripted OpenAI-compatible server (content)."""

from __future__ import annotations

import os

import orjson
import pytest

from metacot.behaviors.handbook.build import parse_behaviors
from metacot.behaviors.handbook.entries import load_handbook
from metacot.cli import main

os.environ["HF_HUB_OFFLINE"] = "1"


def test_parse_keeps_well_formed_items_and_counts_the_rest():
    parsed = parse_behaviors(
        "Here they are:\n"
        "behavior_target_factorisation: Factor the target first.\n"
        "2. **behavior_Near-Target**: Get close, then fix the gap.\n"
        "- behaviour_check_last_pair - Try every operation on the last two.\n"
        "behavior_: nothing named\n"
        "behavior_x:\n"
        "a behavior without the form\n"
        "unrelated text"
    )
    assert parsed.items == [
        ("target_factorisation", "Factor the target first."),
        ("near_target", "Get close, then fix the gap."),
        ("check_last_pair", "Try every operation on the last two."),
    ]
    assert parsed.malformed == ["behavior_: nothing named", "behavior_x:", "a behavior without the form"]
    assert parse_behaviors("").items == [] and parse_behaviors("\x00\ufffd" * 50).malformed == []


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("hb") / "run")
    assert main(["synth", "--num-problems", "4", "--out", out, "--no-progress"]) == 0
    return out


def test_the_tiny_model_gives_zero_behaviours_counted(run, long_lm_dir, tmp_path, capsys):
    from tiny_models import single_thread

    handbook = tmp_path / "h.jsonl"
    flags = [
        "--policy",
        "transformers",
        "--policy-model",
        long_lm_dir,
        "--reply-tokens",
        "12",
        "--handbook",
        str(handbook),
    ]
    with single_thread():
        assert main(["handbook", "build", run, *flags]) == 0
    out = capsys.readouterr().out
    assert "0 behaviours (0 distilled from 4 trees, 0 kept); 4 replies without a behaviour" in out
    assert load_handbook(handbook) == []
    rows = [orjson.loads(line) for line in (tmp_path / "h.jsonl.build.jsonl").read_bytes().splitlines()]
    assert len(rows) == 4 and all(isinstance(r["distillation"], str) for r in rows)


REPLY = (
    "behavior_target_factorisation: Factor the target and aim for a divisor.\n"
    "* **behavior_Near Target**: Get close to the target, then close the gap.\n"
    "behavior: a broken item\n"
)


def test_a_scripted_server_fills_the_handbook_and_a_second_build_merges(run, tmp_path, capsys):
    pytest.importorskip("openai")
    from fault_server import SERVED, FaultServer
    from tiny_models import build_tokenizer

    build_tokenizer(tmp_path / "tok")
    prompts: list[str] = []

    def answer(body: dict) -> str:
        prompts.append(body["prompt"])
        return "The search wasted steps on far results." if "Reflect on this search" in body["prompt"] else REPLY

    server = FaultServer(answer=answer)
    handbook = tmp_path / "h.jsonl"
    flags = ["--policy", "openai", "--policy-model", SERVED, "--set", f"policy.openai.base_url={server.url!r}"]
    flags += ["--set", f"policy.openai.tokenizer={str(tmp_path / 'tok')!r}", "--handbook", str(handbook)]
    try:
        assert main(["handbook", "build", run, *flags]) == 0
        assert "2 behaviours (8 distilled from 4 trees, 0 kept); 0 replies without a behaviour, 4 malformed" in (
            capsys.readouterr().out
        )
        entries = load_handbook(handbook)
        assert [(e.name, e.count, e.tags) for e in entries] == [
            ("target_factorisation", 4, ["countdown"]),
            ("near_target", 4, ["countdown"]),
        ]
        assert len(entries[0].provenance.problem_ids) == 4 and entries[0].provenance.model == SERVED
        reflections = [p for p in prompts if "Reflect on this search" in p]
        assert len(reflections) == 4 and all("Failed branches:\n- " in p for p in reflections)
        assert any("Search trace:\n<think>" in p and "Going back" in p for p in reflections)  # a solved tree's
        assert sum("The search wasted steps on far results." in p for p in prompts) == 4  # each distil prompt
        assert main(["handbook", "build", run, *flags]) == 0
        assert [e.count for e in load_handbook(handbook)] == [8, 8]
        assert "(8 distilled from 4 trees, 2 kept)" in capsys.readouterr().out
    finally:
        server.stop()
