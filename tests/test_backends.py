"""The shared backends package: one request type, the registries and factories, protocols, sampling settings."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from metacot.backends.engine import VLLMEngineConfig, make_llm
from metacot.backends.generate import Sampling, TextGenerator, cut_at_stop, prompt_seeds
from metacot.backends.request import NodeRequest
from metacot.policy import BACKENDS as POLICY_BACKENDS
from metacot.policy import ExpandRequest, Policy, PolicyConfig, Proposal, Rollouts, make_policy
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm import BACKENDS as PRM_BACKENDS
from metacot.prm import PRMConfig, ScoreRequest, make_prm
from metacot.prm.oracle import CountdownOraclePRM
from metacot.prm.rollout import RolloutPRM
from metacot.problems.countdown import CountdownDomain, generate_problems
from metacot.tree import SearchTree

MATH = SimpleNamespace(name="math")  # all a factory asks of a domain before the backend is built


def test_expand_and_score_requests_are_the_one_node_request_built_by_keyword():
    problem = generate_problems(1, 0)[0]
    tree = SearchTree.with_root(problem.id, {}, problem.numbers)
    child = tree.add_child(tree.root, "1 + 2 = 3")
    expand = ExpandRequest(problem=problem, tree=tree, node=child, n=3, seed=7)
    score = ScoreRequest(problem=problem, tree=tree, node=child, seed=7)
    assert type(expand) is type(score) is NodeRequest
    assert (expand.n, score.n, expand.steps) == (3, 1, ["1 + 2 = 3"])


@pytest.mark.parametrize(("registry", "config"), [(POLICY_BACKENDS, PolicyConfig), (PRM_BACKENDS, PRMConfig)])
def test_every_registered_backend_has_its_config_section(registry, config):
    sections = {f.name for f in dataclasses.fields(config)} - {"backend"}
    assert set(registry) == sections


def test_the_factories_build_the_default_backends():
    domain = CountdownDomain()
    policy = make_policy(PolicyConfig(), domain)
    assert isinstance(policy, SymbolicCountdownPolicy) and policy.config == PolicyConfig().symbolic
    assert isinstance(make_prm(PRMConfig(), domain, policy), CountdownOraclePRM)
    rollout = make_prm(PRMConfig(backend="rollout"), domain, policy)
    assert isinstance(rollout, RolloutPRM) and rollout.policy is policy


def test_unknown_backends_and_unplayable_domains_are_named():
    with pytest.raises(ValueError, match=r"policy\.backend: unknown backend 'gpt'; known: symbolic, transformers"):
        make_policy(PolicyConfig(backend="gpt"), CountdownDomain())
    with pytest.raises(ValueError, match=r"prm\.backend: unknown backend 'judge'"):
        make_prm(PRMConfig(backend="judge"), CountdownDomain(), SymbolicCountdownPolicy())
    with pytest.raises(ValueError, match=r"policy\.backend: 'symbolic' plays countdown only, not math"):
        make_policy(PolicyConfig(), MATH)
    with pytest.raises(ValueError, match=r"prm\.backend: 'oracle' plays countdown only, not math"):
        make_prm(PRMConfig(), MATH, SymbolicCountdownPolicy())


class ProposeOnly:
    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        return [[] for _ in requests]


def test_only_the_rollout_prm_needs_a_policy_that_rolls_out():
    policy: Policy = ProposeOnly()
    assert not isinstance(policy, Rollouts) and isinstance(SymbolicCountdownPolicy(), Rollouts)
    assert isinstance(make_prm(PRMConfig(), CountdownDomain(), policy), CountdownOraclePRM)
    with pytest.raises(ValueError, match=r"prm\.backend: the rollout PRM .* ProposeOnly cannot roll out"):
        make_prm(PRMConfig(backend="rollout"), CountdownDomain(), policy)


def test_engine_kwargs_may_not_set_what_metacot_sets(tmp_path):
    config = VLLMEngineConfig(model=str(tmp_path), engine_kwargs={"seed": 1, "runner": "pooling", "swap_space": 1})
    with pytest.raises(ValueError, match=r"^prm\.vllm\.engine_kwargs: runner, seed set by metacot"):
        make_llm(config, "prm.vllm", runner="pooling")
    with pytest.raises(ValueError, match=r"^policy\.vllm\.model: no model at"):
        make_llm(VLLMEngineConfig(model=str(tmp_path / "none")), "policy.vllm")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"temperature": -1.0}, r"sampling: need temperature >= 0"),
        ({"top_p": 0.0}, r"sampling: need temperature >= 0 and 0 < top_p <= 1, got 1.0, 0.0"),
        ({"max_tokens": 0}, r"sampling\.max_tokens: must be at least 1"),
        ({"stop": "\n"}, r"sampling\.stop: expected a list of non-empty strings"),
        ({"stop": ["\n", ""]}, r"sampling\.stop: expected a list of non-empty strings"),
    ],
)
def test_sampling_settings_are_checked_when_built(settings, message):
    with pytest.raises(ValueError, match=message):
        Sampling(**settings)


def test_sampling_takes_stop_strings_as_any_sequence():
    assert Sampling(stop=["\n", "END"]).stop == ("\n", "END")


def test_each_prompt_has_its_own_seed_whatever_else_is_in_the_call():
    alone = prompt_seeds(["b"], 3)
    together = prompt_seeds(["a", "b", "a", "c"], 3)
    assert together[1] == alone[0] and together[0] != together[2]  # equal prompts sample independently
    assert prompt_seeds(["a", "b", "a", "c"], 3) == together and prompt_seeds(["b"], 4) != alone


def test_stop_strings_cut_before_the_first():
    assert cut_at_stop("12 + 3 = 15\n15 - 1 END", ("END", "\n")) == "12 + 3 = 15"
    assert cut_at_stop("no stop here", ("\n",)) == "no stop here"


def test_the_text_generator_protocol_is_checkable():
    class Echo:
        def generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
            return prompts

    assert isinstance(Echo(), TextGenerator) and not isinstance(ProposeOnly(), TextGenerator)
