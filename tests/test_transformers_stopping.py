"""The transformers policy stops each row at its stop strings as transformers' own stop_strings would (without
reading the vocabulary), and the backends' threads setting."""

from __future__ import annotations

import copy
import os

import pytest
from conftest import PoolSpy, chain

from metacot.backends.generate import Sampling
from metacot.config import ConfigError, SynthConfig, from_dict
from metacot.flags import flags_of
from metacot.policy.base import ExpandRequest
from metacot.problems.countdown import CountdownDomain, generate_problems

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


from metacot.policy.transformers import TransformersPolicy, TransformersPolicyConfig  # noqa: E402
from metacot.prm.transformers import TransformersPRM, TransformersPRMConfig  # noqa: E402

DOMAIN = CountdownDomain()
PROBLEMS = generate_problems(6, 11)
PROMPTS = [DOMAIN.prompt(p) for p in PROBLEMS]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def policy(lm_dir) -> TransformersPolicy:
    return TransformersPolicy(TransformersPolicyConfig(model=lm_dir, max_tokens=9), DOMAIN)  # some steps are cut


def requests(n: int) -> list[ExpandRequest]:
    out = []
    for i, problem in enumerate(PROBLEMS):
        tree, (root,) = chain(problem, [])
        out.append(ExpandRequest(problem=problem, tree=tree, node=root, n=n, seed=500 + i))
    return out


def test_greedy_rows_are_transformers_own_greedy_generation_with_its_stop_strings(policy, monkeypatch):
    spy = PoolSpy(policy.model, monkeypatch)
    for stop in (("\n",), ("=", "\n"), ()):
        texts = policy.generate(PROMPTS, Sampling(temperature=0, max_tokens=12, stop=stop))
        for row, text in zip(spy.calls[-1], texts, strict=True):
            expected = policy.model.generate(
                torch.tensor([row.prompt]),
                do_sample=False,
                max_new_tokens=12,
                stop_strings=list(stop) or None,
                tokenizer=policy.tokenizer,
                eos_token_id=sorted(policy.eos_ids),
                pad_token_id=policy.tokenizer.pad_token_id,
            )[0, len(row.prompt) :]
            assert row.made == expected.tolist()
            assert not any(s in text for s in stop)
    assert any(len(row.made) < 12 for row in spy.calls[0])  # stopped at the delimiter


def test_steps_end_at_the_delimiter_or_max_tokens_and_no_vocabulary_is_read(policy, monkeypatch):
    reads = []
    vocabulary = policy.tokenizer.get_vocab
    monkeypatch.setattr(policy.tokenizer, "get_vocab", lambda: reads.append(1) or vocabulary())
    spy = PoolSpy(policy.model, monkeypatch)
    proposals = [p for props in policy.propose(requests(4)) for p in props]
    policy.generate(PROMPTS[:2], Sampling(max_tokens=4, stop=("+",)))
    assert reads == []  # transformers' stop strings read the whole vocabulary in every call
    assert {p.finish_reason for p in proposals} == {"stop", "length"}
    for row, p in zip(spy.calls[0], proposals, strict=True):
        text = policy._decode(row.made)
        assert ("\n" in text) == (p.finish_reason == "stop" and row.made[-1] not in policy.eos_ids)
        assert "\n" not in policy._decode(row.made[:-1])  # the row stopped at the token that wrote it


@pytest.mark.parametrize("kind", ["policy", "prm"])
def test_threads_are_set_when_the_backend_is_built_and_checked(kind, lm_dir):
    make, config = {
        "policy": (TransformersPolicy, TransformersPolicyConfig),
        "prm": (TransformersPRM, TransformersPRMConfig),
    }[kind]
    make(config(model=lm_dir, threads=2), DOMAIN)
    assert torch.get_num_threads() == 2
    make(config(model=lm_dir), DOMAIN)  # unset: torch's own setting stays
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="threads"):
            config(model=lm_dir, threads=bad)
    with pytest.raises(ConfigError, match=f"{kind}.transformers.threads"):
        from_dict(SynthConfig, {kind: {"transformers": {"threads": 0}}}, "config")


def test_threads_have_flags_and_do_not_change_the_run_identity():
    flags = flags_of(SynthConfig)
    assert flags["--policy-threads"][2] == ["policy.transformers.threads"]
    assert flags["--prm-threads"][2] == ["prm.transformers.threads"]
    config = SynthConfig()
    config.policy.backend, config.prm.backend = "transformers", "transformers"
    other = copy.deepcopy(config)
    other.policy.transformers.threads, other.prm.transformers.threads = 1, 2
    assert other.hash() == config.hash()
