"""Behaviour-conditioned inference: retrieved behaviours open an LLM policy's prompt, order the symbolic policy's
moves, and are recorded in each tree."""

from __future__ import annotations

from metacot.behaviors.handbook.moves import order_moves
from metacot.cli import main
from metacot.outputs.rundir import RunDir
from metacot.problems.countdown import legal_moves


def test_the_moves_follow_the_behaviours_in_order():
    moves = legal_moves((3, 5, 8), "sos")
    first = order_moves(moves, (3, 5, 8), 24, ["finish_with_last_pair"])[0]
    assert first[3] in (8, 3)  # 3 * 8 = 24 or 5 + 3 = 8 (then 8 * 3)
    near = order_moves(moves, (3, 5, 8), 24, ["near_target_subgoal"])
    assert abs(near[0][3] - 24) == min(abs(m[3] - 24) for m in moves)
    assert order_moves(moves, (3, 5, 8), 24, ["a_model_made_this"]) == moves


def test_a_conditioned_run_records_its_behaviours_and_an_unconditioned_one_none(tmp_path):
    out = str(tmp_path / "bci")
    assert main(["synth", "--num-problems", "3", "--out", out, "--no-progress", "--behaviors", "builtin"]) == 0
    trees = list(RunDir(out).iter_trees())
    expected = ["finish_with_last_pair", "target_factorisation", "near_target_subgoal"]  # top 3 by topic
    assert [t.behaviors for t in trees] == [expected] * 3
    plain = str(tmp_path / "plain")
    assert main(["synth", "--num-problems", "3", "--out", plain, "--no-progress"]) == 0
    assert all(t.behaviors == [] for t in RunDir(plain).iter_trees())


def test_llm_prompts_carry_exactly_the_retrieved_behaviours(tmp_path):
    import pytest

    pytest.importorskip("openai")
    from fault_server import SERVED, FaultServer
    from tiny_models import build_tokenizer

    build_tokenizer(tmp_path / "tok")
    prompts: list[str] = []
    server = FaultServer(answer=lambda body: prompts.append(body["prompt"]) or "1 + 1 = 2")
    flags = ["--policy", "openai", "--policy-model", SERVED, "--set", f"policy.openai.base_url={server.url!r}"]
    flags += ["--set", f"policy.openai.tokenizer={str(tmp_path / 'tok')!r}", "--prm", "oracle", "--top-k", "2"]
    try:
        out = str(tmp_path / "run")
        assert (
            main(["synth", "--num-problems", "2", "--out", out, "--no-progress", "--behaviors", "builtin", *flags]) == 0
        )
    finally:
        server.stop()
    assert prompts and all(
        "behavior_finish_with_last_pair:" in p and "behavior_target_factorisation:" in p for p in prompts
    )
    assert not any("behavior_near_target_subgoal" in p for p in prompts)
