"""kill -9 a synth five times at random moments, resuming each time: every problem once, traces as without kills."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "kill_loop.py"


def load_script():
    spec = importlib.util.spec_from_file_location("kill_loop", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_five_kills_at_random_moments_lose_and_repeat_nothing(tmp_path):
    kill_loop = load_script()
    outcome = kill_loop.kill_loop(tmp_path, problems=300, kills=5, seed=12, extra=["--concurrency", "8"])
    assert outcome.kills == 5
    assert outcome.errors == []


def test_the_checks_see_a_repeated_problem_and_a_stray_temp_file(tmp_path):
    kill_loop = load_script()
    reference, out = tmp_path / "reference", tmp_path / "out"
    kill_loop.run(kill_loop.synth_command(reference, 5, []))
    kill_loop.run(kill_loop.synth_command(out, 5, []))
    assert kill_loop.check(out, reference, 5) == []
    shard = out / "trees" / "trees-00000.jsonl"
    shard.write_bytes(shard.read_bytes() + shard.read_bytes().splitlines(keepends=True)[0])
    (out / "traces" / ".cot.jsonl.abc.tmp").write_bytes(b"")
    errors = kill_loop.check(out, reference, 5)
    assert any("repeat problem ids ['countdown-000000']" in e for e in errors)
    assert any("stray files: traces/.cot.jsonl.abc.tmp" in e for e in errors)
