"""The transformers policy stops on the delimiter with a criterion built once: the same tokens as transformers' own
`stop_strings` (which read the whole vocabulary in every generate call); and the backends' threads setting."""

from __future__ import annotations

import copy
import os

import pytest
from conftest import chain

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


class Generate:
    """Wraps model.generate, keeping the tokens each call generated; `legacy` calls it as the policy used to: the
    stop strings in the GenerationConfig, with the tokenizer, and no stopping criteria of its own."""

    def __init__(self, policy: TransformersPolicy, monkeypatch, legacy: bool):
        self.inner, self.tokenizer, self.legacy = policy.model.generate, policy.tokenizer, legacy
        self.sequences: list[list[list[int]]] = []
        monkeypatch.setattr(policy.model, "generate", self)

    def __call__(self, **kwargs):
        if self.legacy:
            stops = [s for criterion in kwargs.pop("stopping_criteria") for s in criterion.stop_strings]
            config = copy.deepcopy(kwargs.pop("generation_config"))
            config.stop_strings = stops or None
            kwargs |= {"generation_config": config, "tokenizer": self.tokenizer}
        output = self.inner(**kwargs)
        self.sequences.append(output.sequences[:, kwargs["input_ids"].shape[1] :].tolist())
        return output


def requests(n: int) -> list[ExpandRequest]:
    out = []
    for i, problem in enumerate(PROBLEMS):
        tree, (root,) = chain(problem, [])
        out.append(ExpandRequest(problem=problem, tree=tree, node=root, n=n, seed=500 + i))
    return out


def everything(policy: TransformersPolicy) -> tuple:
    """Seeded proposals and rollouts, and greedy and seeded texts with the delimiter and another stop string."""
    return (
        policy.propose(requests(4)),
        policy.rollout(requests(2)),
        policy.generate(PROMPTS, Sampling(temperature=0, max_tokens=12, stop=("\n",))),
        policy.generate(PROMPTS, Sampling(max_tokens=12, stop=("=", "\n"), seed=3)),
        policy.generate(PROMPTS, Sampling(max_tokens=5, seed=4)),
    )


def test_the_same_tokens_and_outputs_as_transformers_own_stop_strings(policy, monkeypatch):
    with monkeypatch.context() as patch:
        before = Generate(policy, patch, legacy=True)
        expected = everything(policy)
    now = Generate(policy, monkeypatch, legacy=False)
    assert everything(policy) == expected
    assert now.sequences == before.sequences
    proposals = [p for props in expected[0] for p in props]
    assert {p.finish_reason for p in proposals} == {"stop", "length"}  # steps end at the delimiter and at max_tokens
    steps = [policy._decode(row) for row in now.sequences[0]]
    assert any("\n" in step for step in steps)  # the delimiter generated, and the row stopped there
    assert all("=" not in text and "\n" not in text for text in expected[3]) and any(expected[3])


def test_the_vocabulary_is_read_once_per_set_of_stop_strings_not_per_call(policy, monkeypatch):
    reads = []
    vocabulary = policy.tokenizer.get_vocab
    monkeypatch.setattr(policy.tokenizer, "get_vocab", lambda: reads.append(1) or vocabulary())
    for seed in range(3):
        policy.propose(requests(2)[:2])
        policy.rollout(requests(1)[:2])
        policy.generate(PROMPTS[:2], Sampling(max_tokens=4, stop=("\n",), seed=seed))  # the delimiter's criterion
    assert reads == []
    policy.generate(PROMPTS[:2], Sampling(max_tokens=4, stop=("+",)))  # a new criterion: transformers reads it
    building = len(reads)
    for seed in range(3):
        policy.generate(PROMPTS[:2], Sampling(max_tokens=4, stop=("+",), seed=seed))
    assert building > 0 and len(reads) == building


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
