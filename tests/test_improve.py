"""`metacot improve` (behaviour-guided self-improvement) and `metacot export --bc-sft`: end to end on a scripted
OpenAI-compatible server (a first attempt that fails some problems, a second that fixes some, its prompts holding
each problem's own behaviours, the BC-SFT records holding none), and the symbolic no-model path."""

from __future__ import annotations

import os
import re

import orjson
import pytest

from metacot.behaviors.handbook.improve import OUTCOMES, outcome, verdict
from metacot.behaviors.handbook.retrieval import BehaviorsConfig, retrieve
from metacot.cli import main
from metacot.outputs.bcsft import cited
from metacot.outputs.rundir import RunDir

os.environ["HF_HUB_OFFLINE"] = "1"

HEAD = "Behaviours that may help"
# numbers -> (first attempt's step, second attempt's step): fixed, broken, both solved, neither
STEPS = {
    (1, 2): ("1 * 2 = 2", "1 + 2 = 3"),
    (2, 5): ("2 * 5 = 10", "2 + 5 = 7"),
    (3, 4): ("3 + 4 = 7", "3 + 4 = 7"),
    (6, 2): ("6 - 2 = 4", "6 - 2 = 4"),
}
TARGETS = {(1, 2): 3, (2, 5): 10, (3, 4): 7, (6, 2): 3}


def _lines(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _numbers(prompt: str) -> tuple[int, ...]:
    found = re.search(r"Using the numbers \[(\d+), (\d+)\]", prompt)
    assert found, prompt
    return (int(found[1]), int(found[2]))


def answer(body: dict) -> str:
    """A scripted model: reflections, behaviours for every problem but (6, 2), and steps that change when the
    prompt opens with behaviours."""
    prompt = body["prompt"]
    a, b = _numbers(prompt)
    if "Reflect on this search" in prompt:
        return f"The search on {a} and {b} went astray."
    if "Turn the reflection into" in prompt:
        return "" if (a, b) == (6, 2) else f"behavior_pair_{a}_{b}: Combine {a} and {b} to hit the target.\n"
    return STEPS[(a, b)][HEAD in prompt]


def test_outcomes():
    assert [outcome(f, s) for f, s in [(False, True), (True, False), (True, True), (False, False)]] == list(OUTCOMES)


def test_retrieve_by_problem_gives_its_own_behaviours_or_none(tmp_path):
    from metacot.behaviors.handbook.entries import Entry, Provenance

    entries = [
        Entry("a", "first of p1", provenance=Provenance(["p1"])),
        Entry("b", "of p2", provenance=Provenance(["p2"])),
        Entry("c", "often in p1", provenance=Provenance(["p1", "p3"]), count=3),
    ]
    found = retrieve(entries, [{"id": "p1"}, {"id": "p9"}], ["", ""], "x", BehaviorsConfig(retrieve="problem"))
    assert [[e.name for e in row] for row in found] == [["c", "a"], []]


def test_cited_names_whole_words_only():
    text = "Using behavior_near_target first, then finish_with_last_pair; not near_targets."
    assert cited(["near_target", "finish_with_last_pair", "target"], text) == ["near_target", "finish_with_last_pair"]
    assert cited(["near_target"], "NEAR_TARGETS") == []


@pytest.fixture
def served(tmp_path):
    pytest.importorskip("openai")
    from fault_server import SERVED, FaultServer
    from tiny_models import build_tokenizer

    build_tokenizer(tmp_path / "tok")
    prompts: list[str] = []
    server = FaultServer(answer=lambda body: prompts.append(body["prompt"]) or answer(body))
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(f'{{"numbers": [{a}, {b}], "target": {TARGETS[(a, b)]}}}\n' for a, b in STEPS))
    flags = ["--policy", "openai", "--policy-model", SERVED, "--set", f"policy.openai.base_url={server.url!r}"]
    flags += ["--set", f"policy.openai.tokenizer={str(tmp_path / 'tok')!r}", "--prm", "oracle", "--max-nodes", "8"]
    flags += ["--problems", str(problems), "--no-progress"]
    try:
        yield flags, prompts
    finally:
        server.stop()


def test_improve_end_to_end_on_a_scripted_server(served, tmp_path, capsys):
    flags, prompts = served
    run = tmp_path / "run"
    assert main(["improve", str(run), *flags]) == 0
    out = capsys.readouterr().out
    assert "reflected on 4 trees with tiny: 3 behaviours for 3 problems" in out
    assert "4 problems: 1 fixed, 1 broken, 1 both solved, 1 neither; solved 2 then 2" in out
    # the scripted model answers the same at any seed: the unconditioned baseline changes nothing
    assert "noise baseline (the same problems and budget, unconditioned, seed 1, in" in out
    assert ": 0 fixed, 0 broken; solved 2 then 2\nagainst the noise baseline: +0 problems (1 solved only by the " in out
    records = _lines(run / "improve" / "attempts.jsonl")
    assert [(r["outcome"], r["behaviors"]) for r in records] == [
        ("fixed", ["pair_1_2"]),
        ("broken", ["pair_2_5"]),
        ("both solved", ["pair_3_4"]),
        ("neither", []),
    ]
    assert [(r["first"]["solved"], r["second"]["solved"]) for r in records] == [
        (False, True),
        (True, False),
        (True, True),
        (False, False),
    ]
    assert all(r["first"]["nodes"] > 1 and r["second"]["policy_calls"] >= 1 for r in records)
    # one reflection and one distillation per tree; then each second-attempt prompt holds its problem's own line
    assert sum("Reflect on this search" in p for p in prompts) == 4
    assert sum("Turn the reflection into" in p for p in prompts) == 4
    steps = [p for p in prompts if "Reflect on this search" not in p and "Turn the reflection into" not in p]
    for prompt in (p for p in steps if HEAD in p):
        a, b = _numbers(prompt)
        assert re.findall(r"behavior_\w+:", prompt) == [f"behavior_pair_{a}_{b}:"]
    assert {_numbers(p) for p in steps if HEAD in p} == {(1, 2), (2, 5), (3, 4)}

    # BC-SFT from the second attempt (a BCI run): the same completions, no behaviours in the prompts
    assert main(["export", str(run / "improve"), "--bc-sft"]) == 0
    assert "bc-sft-metacot: 2 records (1 trees without behaviours, left out" in capsys.readouterr().out
    bc_sft = _lines(run / "improve" / "exports" / "bc-sft-metacot" / "data.jsonl")
    traces = {r["problem_id"]: r for r in _lines(run / "improve" / "traces" / "metacot.jsonl")}
    assert [r["behaviors"] for r in bc_sft] == [["pair_1_2"], ["pair_3_4"]]
    for record in bc_sft:
        assert "behavior_" not in record["prompt"] and "messages" not in record
        assert record["completion"] == traces[record["problem_id"]]["completion"]
        assert record["prompt"] == traces[record["problem_id"]]["prompt"]
    assert "BC-SFT" in (run / "improve" / "exports" / "bc-sft-metacot" / "README.md").read_text()

    # a rerun reuses the reflection and both searches: no request at all
    sent = len(prompts)
    assert main(["improve", str(run), *flags]) == 0
    assert "reused the reflection in" in capsys.readouterr().out and len(prompts) == sent


def test_improve_without_a_model_uses_the_builtin_handbook_and_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["improve", str(run), "--num-problems", "4", "--max-nodes", "60", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "no model reflected: the symbolic policy cannot write text" in out and "built-in countdown" in out
    records = _lines(run / "improve" / "attempts.jsonl")
    assert len(records) == 4 and not (run / "improve-handbook.jsonl").exists()
    assert all(r["outcome"] == outcome(r["first"]["solved"], r["second"]["solved"]) for r in records)
    assert "built-in countdown handbook (retrieved by features)" in out
    assert all(len(r["behaviors"]) == 3 and r["behaviors"][0] == "finish_with_last_pair" for r in records)
    assert RunDir(run / "improve").read_manifest()["config"]["behaviors"]["handbook"] == "builtin"
    assert all(not t.behaviors for t in RunDir(run).iter_trees())  # the first attempt was not conditioned
    counts = [sum(r["outcome"] == o for r in records) for o in OUTCOMES]
    assert f"4 problems: {counts[0]} fixed, {counts[1]} broken, {counts[2]} both solved, {counts[3]} neither" in out
    # the noise baseline: the first attempt's problems, unconditioned, at the next seed, in its own run directory
    noise = [sum(r["baseline_outcome"] == o for r in records) for o in OUTCOMES[:2]]
    assert f"seed 1, in {run / 'improve-baseline'}): {noise[0]} fixed, {noise[1]} broken" in out
    base = RunDir(run / "improve-baseline")
    assert base.read_manifest()["config"]["seed"] == 1
    assert [t.problem for t in base.iter_trees()] == [t.problem for t in RunDir(run).iter_trees()]
    assert all(not t.behaviors for t in base.iter_trees())
    assert all(r["baseline_outcome"] == outcome(r["first"]["solved"], r["baseline"]["solved"]) for r in records)
    # an existing run is reused with its own settings; a flag that changes its trees is refused
    assert main(["improve", str(run), "--no-progress"]) == 0
    assert main(["improve", str(run), "--seed", "5", "--no-progress"]) == 2
    assert "differing keys: seed" in capsys.readouterr().err


def test_the_verdict_weighs_the_problems_only_one_of_them_solved_against_seed_noise():
    assert verdict(20, 6).endswith(
        "+14 problems (20 solved only by the second attempt, 6 only by the baseline; "
        "2 sd of seed noise: 10.2): beat the noise baseline"
    )
    assert verdict(17, 12).endswith("not beyond the noise of changing the seed")
    assert verdict(0, 0).endswith("not beyond the noise of changing the seed")


def test_bc_sft_needs_a_bci_run(tmp_path, capsys):
    run = str(tmp_path / "plain")
    assert main(["synth", "--num-problems", "2", "--out", run, "--no-progress"]) == 0
    assert main(["export", run, "--bc-sft"]) == 2
    assert "not a behaviour-conditioned run (made without --behaviors)" in capsys.readouterr().err
