"""`metacot synth` end to end with real model backends on tiny local models: Countdown and math."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import orjson  # noqa: E402

from metacot.cli import main  # noqa: E402
from metacot.policy.base import ExpandRequest  # noqa: E402
from metacot.policy.config import TransformersPolicyConfig  # noqa: E402
from metacot.policy.transformers import TransformersPolicy  # noqa: E402
from metacot.problems.countdown import CountdownDomain, generate_problems  # noqa: E402
from metacot.problems.math.answers import check  # noqa: E402
from metacot.tree import SearchTree  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def read_jsonl(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def trees_of(out) -> list[dict]:
    return [t for shard in sorted((out / "trees").glob("*.jsonl")) for t in read_jsonl(shard)]


@pytest.mark.parametrize("search", ["mcts", "astar"])
def test_countdown_with_transformers_policy_and_prm(tmp_path, lm_dir, head_dir, search):
    out = tmp_path / search
    flags = ["--policy", "transformers", "--policy-model", lm_dir, "--prm", "transformers", "--prm-model", head_dir]
    flags += ["--prm-style", "separator-head", "--search", search, "--num-problems", "3", "--simulations", "3"]
    flags += ["--max-nodes", "9", "--expand-width", "3", "--no-progress", "--out", str(out)]
    assert main(["synth", *flags]) == 0
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["config"]["policy"]["transformers"]["model"] == lm_dir
    assert manifest["config"]["prm"]["transformers"]["model"] == head_dir
    trees = trees_of(out)
    assert len(trees) == 3
    children = [n for t in trees for n in t["nodes"][1:]]
    assert children and all(0.0 <= n["score"] <= 1.0 for n in children if n["score"] is not None)
    assert any(n["error"] for n in children)  # the tiny model writes mostly illegal steps: dead nodes, kept
    assert all(t["compute"]["generated_tokens"] > 0 for t in trees)


def test_math_with_transformers_policy_and_rollout_prm(tmp_path, lm_dir):
    config = tmp_path / "math.toml"
    config.write_text("[policy.transformers]\nmax_tokens = 16\nrollout_max_tokens = 24\n")
    for search in ("mcts", "astar"):
        out = tmp_path / search
        flags = ["--domain", "math", "--num-problems", "3", "--policy", "transformers", "--policy-model", lm_dir]
        flags += ["--prm", "rollout", "--rollouts", "2", "--search", search, "--simulations", "3", "--max-nodes", "7"]
        flags += ["--expand-width", "2", "--config", str(config), "--no-progress", "--out", str(out)]
        assert main(["synth", *flags]) == 0
        trees = trees_of(out)
        assert len(trees) == 3 and all(t["problem"]["question"] for t in trees)
        traces = sorted(p.name for p in (out / "traces").iterdir() if not p.name.startswith("."))  # .state.json: resume
        assert traces == ["cot.jsonl", "metacot.jsonl", "tokens.jsonl"]
        answers = {t["problem_id"]: t["problem"]["answer"] for t in trees}
        for record in read_jsonl(out / "traces" / "metacot.jsonl"):
            assert check(record["answer"].removeprefix("\\boxed{").removesuffix("}"), answers[record["problem_id"]])


def test_transformers_rollouts_are_seeded_step_lists(lm_dir):
    domain = CountdownDomain()
    policy = TransformersPolicy(TransformersPolicyConfig(model=lm_dir, rollout_max_tokens=40), domain)
    problem = generate_problems(1, seed=2)[0]
    tree = SearchTree.with_root(problem.id, domain.problem_to_dict(problem), problem.numbers)
    request = ExpandRequest(problem=problem, tree=tree, node=tree.root, n=3, seed=11)
    rollouts = policy.rollout([request])[0]
    assert len(rollouts) == 3 and all(isinstance(steps, list) for steps in rollouts)
    assert any(len(steps) > 1 for steps in rollouts)  # continuations run past the first step delimiter
    assert all(step and "\n" not in step for steps in rollouts for step in steps)
    assert policy.rollout([request])[0] == rollouts
