"""`generate(prompts, sampling) -> texts` on the transformers policy with the tiny local model: chat or raw
prompts, one pool per batch, seeded per prompt, stop strings honoured."""

from __future__ import annotations

import os

import pytest
from conftest import PoolSpy

from metacot.backends.generate import Sampling, TextGenerator
from metacot.problems.countdown import CountdownDomain, generate_problems

os.environ["HF_HUB_OFFLINE"] = "1"
pytest.importorskip("transformers")


from metacot.policy.transformers import TransformersPolicy, TransformersPolicyConfig  # noqa: E402

DOMAIN = CountdownDomain()
PROMPTS = [DOMAIN.prompt(p) for p in generate_problems(6, 5)]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def policy(lm_dir) -> TransformersPolicy:
    return TransformersPolicy(TransformersPolicyConfig(model=lm_dir), DOMAIN)


def test_a_batch_is_one_pool_of_chat_prompts(policy, monkeypatch):
    spy = PoolSpy(policy.model, monkeypatch)
    texts = policy.generate(PROMPTS, Sampling(max_tokens=24, seed=1))
    assert isinstance(policy, TextGenerator)
    assert len(spy.calls) == 1 and spy.shapes[0][0] == len(PROMPTS)
    assert len(texts) == len(PROMPTS) and all(isinstance(t, str) for t in texts) and any(texts)
    sent = {policy.tokenizer.decode(row.prompt) for row in spy.calls[0]}
    chat = [[{"role": "user", "content": p}] for p in PROMPTS]
    assert sent == {policy.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in chat}


def test_raw_prompts_are_continued_as_they_are(policy, monkeypatch):
    spy = PoolSpy(policy.model, monkeypatch)
    policy.generate(["25 + 3 = 28\n"], Sampling(max_tokens=4, chat=False))
    ((row,),) = spy.calls
    assert policy.tokenizer.decode(row.prompt) == "25 + 3 = 28\n"


def test_same_seed_same_texts_in_any_order_and_another_seed_differs(policy):
    sampling = Sampling(max_tokens=24, seed=3)
    texts = policy.generate(PROMPTS, sampling)
    assert policy.generate(PROMPTS, sampling) == texts
    assert policy.generate(PROMPTS[::-1], sampling)[::-1] == texts
    assert policy.generate(PROMPTS, Sampling(max_tokens=24, seed=4)) != texts


def test_equal_prompts_in_one_call_are_sampled_independently(policy):
    texts = policy.generate([PROMPTS[0]] * 6, Sampling(max_tokens=24, seed=3))
    assert len(set(texts)) > 1


def test_stop_strings_end_each_text_before_them(policy):
    full = policy.generate(PROMPTS, Sampling(max_tokens=40, seed=2))
    stopped = policy.generate(PROMPTS, Sampling(max_tokens=40, seed=2, stop=("\n",)))
    assert any("\n" in text for text in full)
    assert stopped == [text.split("\n")[0] for text in full]


def test_temperature_zero_is_greedy(policy):
    greedy = [policy.generate(PROMPTS[:3], Sampling(temperature=0.0, max_tokens=16, seed=s)) for s in (1, 2)]
    assert greedy[0] == greedy[1]
