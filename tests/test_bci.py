"""Behaviour-conditioned inference: retrieved behaviours open an LLM policy's prompt, order the symbolic policy's
moves, and are recorded in each tree."""

from __future__ import annotations

import orjson
import pytest

from metacot.backends.request import Conditioning
from metacot.behaviors.handbook.bci import condition
from metacot.behaviors.handbook.moves import order_moves
from metacot.cli import main
from metacot.conditioning import BehaviorsConfig
from metacot.config import ConfigError, SynthConfig
from metacot.outputs.rundir import RunDir
from metacot.policy.base import ExpandRequest
from metacot.policy.cite import split_citations
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems.countdown import CountdownDomain, generate_problems, legal_moves
from metacot.search import Runner, make_search
from metacot.search.config import SearchConfig
from metacot.synth import synth


def test_the_moves_follow_the_behaviours_in_order():
    moves = legal_moves((3, 5, 8), "sos")
    first = order_moves(moves, (3, 5, 8), 24, ["finish_with_last_pair"])[0]
    assert first[3] in (8, 3)  # 3 * 8 = 24 or 5 + 3 = 8 (then 8 * 3)
    near = order_moves(moves, (3, 5, 8), 24, ["near_target_subgoal"])
    assert abs(near[0][3] - 24) == min(abs(m[3] - 24) for m in moves)
    assert order_moves(moves, (3, 5, 8), 24, ["a_model_made_this"]) == moves


def test_a_conditioned_run_records_its_behaviours_and_an_unconditioned_one_none(tmp_path):
    out = str(tmp_path / "bci")
    flags = ["--no-progress", "--behaviors", "builtin", "--retrieve", "topic"]
    assert main(["synth", "--num-problems", "3", "--out", out, *flags]) == 0
    trees = list(RunDir(out).iter_trees())
    expected = ["finish_with_last_pair", "target_factorisation", "near_target_subgoal"]  # top 3 by topic
    assert [t.behaviors for t in trees] == [expected] * 3
    plain = str(tmp_path / "plain")
    assert main(["synth", "--num-problems", "3", "--out", plain, "--no-progress"]) == 0
    assert all(t.behaviors == [] for t in RunDir(plain).iter_trees())


def first_steps(runner: Runner, problems: list) -> list[list[str]]:
    """Each problem's root's children, in the order the policy proposed them."""
    return [[tree.nodes[i].step for i in tree.root.children] for tree in runner.run(problems)]


def test_the_core_runs_with_conditioning_built_above_it_and_records_it():
    domain, problems = CountdownDomain(), generate_problems(3, 5)
    search = make_search("best_of_n", SearchConfig().best_of_n)
    runner = Runner(domain, SymbolicCountdownPolicy(), CountdownOraclePRM(), search, "best_of_n", concurrency=2)
    plain = first_steps(runner, problems)
    largest_first = lambda moves, state, problem: sorted(moves, key=lambda m: -m[3])  # noqa: E731
    by_size = Conditioning(("largest_first",), order_moves=largest_first)
    conditioned = runner.conditioned({problems[0].id: by_size})
    steps = first_steps(conditioned, problems)
    results = [float(step.split(" = ")[1]) for step in steps[0]]
    assert results == sorted(results, reverse=True) and steps[0] != plain[0]
    assert steps[1:] == plain[1:]  # the other problems' requests carry no conditioning
    trees = list(conditioned.run(problems))
    assert [t.behaviors for t in trees] == [["largest_first"], [], []]
    assert first_steps(runner, problems) == plain  # the runner it came from is not conditioned


def test_each_problem_gets_its_retrieved_behaviours_as_a_head_and_a_move_order():
    domain, problems = CountdownDomain(), generate_problems(2, 5)
    made = condition(domain, problems, BehaviorsConfig(handbook="builtin", retrieve="topic", top_k=2))
    expected = ("finish_with_last_pair", "target_factorisation")
    assert [made[p.id].behaviors for p in problems] == [expected] * 2
    head = made[problems[0].id].prompt_head
    assert head.startswith("Behaviours that may help") and "behavior_finish_with_last_pair:" in head
    assert made[problems[0].id].order_moves is not None


def test_synth_conditions_a_search_only_with_the_callers_conditioner(tmp_path):
    config = SynthConfig(out=str(tmp_path / "run"))
    config.problems.num_problems = 2
    config.behaviors.handbook = "builtin"
    with pytest.raises(ConfigError, match="behaviors.handbook: this caller of synth cannot condition"):
        synth(config, progress=False)
    assert not (tmp_path / "run").exists()
    synth(config, progress=False, condition=condition)
    assert all(t.behaviors for t in RunDir(config.out).iter_trees())


def test_llm_prompts_carry_exactly_the_retrieved_behaviours(tmp_path):
    pytest.importorskip("openai")
    from fault_server import SERVED, FaultServer
    from tiny_models import build_tokenizer

    build_tokenizer(tmp_path / "tok")
    prompts: list[str] = []
    server = FaultServer(answer=lambda body: prompts.append(body["prompt"]) or "1 + 1 = 2")
    flags = ["--policy", "openai", "--policy-model", SERVED, "--set", f"policy.openai.base_url={server.url!r}"]
    flags += ["--set", f"policy.openai.tokenizer={str(tmp_path / 'tok')!r}", "--prm", "oracle", "--top-k", "2"]
    flags += ["--retrieve", "topic"]
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


def test_a_steps_citations_are_read_off_its_text():
    names = ("finish_with_last_pair", "target_factorisation")
    assert split_citations("[behavior_finish_with_last_pair] 3 * 8 = 24", names) == (
        "3 * 8 = 24",
        ("finish_with_last_pair",),
    )
    assert split_citations("behaviour_Target_Factorisation: 7 * 13 = 91", names) == (
        "7 * 13 = 91",
        ("target_factorisation",),
    )
    # a behaviour the prompt did not hold: its mark goes, and it is not counted
    assert split_citations("[behavior_made_up] 3 + 4 = 7 [behavior_target_factorisation]", names) == (
        "3 + 4 = 7",
        ("target_factorisation",),
    )
    assert split_citations("3 + 4 = 7", names) == ("3 + 4 = 7", ())


def test_an_llm_policy_is_asked_to_cite_and_its_citations_reach_the_tree_and_bc_sft(tmp_path, capsys):
    pytest.importorskip("openai")
    from fault_server import SERVED, FaultServer
    from tiny_models import build_tokenizer

    build_tokenizer(tmp_path / "tok")
    prompts: list[str] = []
    steps = {"Using the numbers [1, 2]": "1 + 2 = 3", "Using the numbers [3, 4]": "3 * 4 = 12"}

    def answer(body: dict) -> str:
        prompt = body["prompt"]
        prompts.append(prompt)
        step = next(s for k, s in steps.items() if k in prompt)
        return f"[behavior_finish_with_last_pair] {step}" if "1, 2" in prompt else step

    server = FaultServer(answer=answer)
    problems = tmp_path / "problems.jsonl"
    problems.write_text('{"numbers": [1, 2], "target": 3}\n{"numbers": [3, 4], "target": 12}\n')
    flags = ["--policy", "openai", "--policy-model", SERVED, "--set", f"policy.openai.base_url={server.url!r}"]
    flags += ["--set", f"policy.openai.tokenizer={str(tmp_path / 'tok')!r}", "--prm", "oracle", "--top-k", "2"]
    out = tmp_path / "run"
    run = ["synth", "--problems", str(problems), "--out", str(out), "--no-progress", "--behaviors", "builtin"]
    try:
        assert main([*run, *flags]) == 0
    finally:
        server.stop()
    asked = "opening the step with its name in brackets, for example [behavior_finish_with_last_pair]"
    assert prompts and all(asked in p for p in prompts)
    trees = list(RunDir(out).iter_trees())
    cited = [[(tree.nodes[c].step, list(tree.nodes[c].cites)) for c in tree.root.children] for tree in trees]
    assert cited == [[("1 + 2 = 3", ["finish_with_last_pair"])], [("3 * 4 = 12", [])]]
    assert all(t.solved for t in trees)
    assert main(["export", str(out), "--bc-sft"]) == 0
    assert "1 records citing a behaviour" in capsys.readouterr().out
    records = [
        orjson.loads(line) for line in (out / "exports" / "bc-sft-metacot" / "data.jsonl").read_bytes().splitlines()
    ]
    assert [r["cited"] for r in records] == [["finish_with_last_pair"], []]
    assert "[behavior_finish_with_last_pair] 1 + 2 = 3" in records[0]["completion"]
    traces = (out / "traces" / "metacot.jsonl").read_text()
    assert "[behavior_" not in traces and "1 + 2 = 3" in traces  # the run's own traces hold the steps alone


def test_a_childs_prompt_holds_its_steps_as_the_policy_wrote_them():
    from metacot.policy.prompts import PromptBuilder
    from metacot.tree import SearchTree

    domain, problem = CountdownDomain(), generate_problems(1, 5)[0]
    tree = SearchTree.with_root(problem.id, domain.problem_to_dict(problem), domain.root_state(problem))
    a, b = problem.numbers[:2]
    child = tree.add_child(tree.root, f"{a} + {b} = {a + b}", cites=("finish_with_last_pair",))
    prompts = PromptBuilder(domain, render=lambda text: f"<{text}>")
    request = ExpandRequest(problem, tree, child, 0, conditioning=Conditioning(("finish_with_last_pair",)))
    assert prompts.prompt(request).endswith(f">[behavior_finish_with_last_pair] {a} + {b} = {a + b}\n")
