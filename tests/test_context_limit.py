"""Generation stays inside the model's context: no row of a generate call asks for more tokens than its prompt
leaves, and a prompt that leaves none makes cut-off steps (dead nodes with their reason) and empty rollouts."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import pytest
from conftest import PoolSpy

from metacot.policy.base import ExpandRequest
from metacot.problems.math import MathDomain, MathProblem
from metacot.search.expand import TRUNCATED, grow
from metacot.tree import SearchTree

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from metacot.policy.transformers import (  # noqa: E402
    TransformersPolicy,
    TransformersPolicyConfig,
    context_length,
)

DOMAIN = MathDomain()
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def policy(lm_dir) -> TransformersPolicy:
    return TransformersPolicy(TransformersPolicyConfig(model=lm_dir, max_tokens=32, rollout_max_tokens=64), DOMAIN)


def request(words: int, seed: int = 1, n: int = 4) -> ExpandRequest:
    """A math problem whose question repeats a sentence `words` times (the tiny tokenizer spends ~14 tokens on it)."""
    problem = MathProblem(f"p{words}", " ".join(["What is 12 plus 7?"] * words), "19")
    tree = SearchTree.with_root(problem.id, DOMAIN.problem_to_dict(problem), DOMAIN.root_state(problem))
    return ExpandRequest(problem=problem, tree=tree, node=tree.root, n=n, seed=seed)


def prompt_tokens(policy: TransformersPolicy, r: ExpandRequest) -> int:
    return len(policy.tokenizer(policy.prompts.prompt(r), add_special_tokens=False)["input_ids"])


def test_the_context_is_the_least_limit_the_model_and_tokenizer_know(policy):
    assert policy.context == policy.model.config.max_position_embeddings == 512
    model = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=4096))
    assert context_length(model, SimpleNamespace(model_max_length=2048)) == 2048
    assert context_length(model, SimpleNamespace(model_max_length=int(1e30))) == 4096  # transformers' "unknown"
    assert context_length(SimpleNamespace(config=SimpleNamespace(n_positions=1024)), SimpleNamespace()) == 1024
    unknown = SimpleNamespace(model_max_length=int(1e30))
    assert context_length(SimpleNamespace(config=SimpleNamespace()), unknown) is None


def test_each_row_generates_at_most_what_its_prompt_leaves(policy, monkeypatch, caplog):
    """Prompts of different lengths in one call: each row stops where its own context ends, the short prompt's
    rows may still use max_tokens, and transformers' reminder about going past the context never comes."""
    short, long = request(1), request(30, seed=2)
    room = 5
    monkeypatch.setattr(policy, "context", prompt_tokens(policy, long) + room)
    spy = PoolSpy(policy.model, monkeypatch)
    with caplog.at_level(logging.WARNING):
        proposals = policy.propose([short, long])
        rollouts = policy.rollout([short, long])
    assert "maximum length" not in caplog.text
    assert len(spy.calls) == 2  # one pool for both prompts, each time
    assert all(p.tokens <= room for p in proposals[1]) and any(p.finish_reason == "length" for p in proposals[1])
    assert all(r.tokens <= room for r in rollouts[1])
    assert max(p.tokens for p in proposals[0]) > room  # the short prompt was not cut to the long one's room
    assert max(r.tokens for r in rollouts[0]) > room
    for r, props in zip((short, long), proposals, strict=True):
        children = {child.step: child for child in grow(DOMAIN, r.problem, r.tree, r.node, props)}
        for p in props:
            if p.finish_reason == "length":
                assert children[p.text].dead and children[p.text].error == TRUNCATED


def test_a_prompt_that_fills_the_context_is_never_generated_from(policy, monkeypatch):
    """Its steps are cut off before their first token (dead nodes saying why), its rollouts are empty, and the
    other prompts of the call are generated without its padding."""
    fits, full = request(1), request(40, seed=2)
    monkeypatch.setattr(policy, "context", prompt_tokens(policy, full))
    spy = PoolSpy(policy.model, monkeypatch)
    proposals = policy.propose([fits, full])
    rollouts = policy.rollout([full])
    (rows,) = spy.calls  # the rollout of `full` alone generated nothing
    assert len(rows) == fits.n and spy.shapes[0] == (fits.n, prompt_tokens(policy, fits))  # no padding for it
    assert all(p.tokens > 0 for p in proposals[0])
    assert [(p.text, p.tokens, p.finish_reason) for p in proposals[1]] == [("", 0, "length")] * full.n
    assert [(list(r), r.tokens) for r in rollouts[0]] == [([], 0)] * full.n
    children = grow(DOMAIN, full.problem, full.tree, full.node, proposals[1])
    assert [(c.dead, c.error) for c in children] == [(True, TRUNCATED)]  # identical empty steps merge


def test_generate_refuses_a_prompt_that_leaves_no_room_and_stops_the_others_at_the_context(policy, monkeypatch):
    from metacot.backends.generate import Sampling, prompt_lengths

    prompts = ["What is 12 plus 7?", " ".join(["What is 12 plus 7?"] * 20)]
    short, long = prompt_lengths(policy.tokenizer, prompts, True)
    monkeypatch.setattr(policy, "context", long)
    with pytest.raises(ValueError, match=r"prompts \[1\] leave no room for a token in context"):
        policy.generate(prompts, Sampling(max_tokens=64))
    monkeypatch.setattr(policy, "context", short + 3)
    spy = PoolSpy(policy.model, monkeypatch)
    policy.generate(prompts[:1], Sampling(max_tokens=64))
    ((row,),) = spy.calls
    assert 1 <= len(row.made) <= 3
