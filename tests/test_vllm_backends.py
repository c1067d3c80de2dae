"""The vLLM policy and PRMs on tiny local models: normalization, one engine call per round, seeds, PRM read-out."""

from __future__ import annotations

import dataclasses
import math
import os

import pytest
from conftest import chain

from metacot.policy.base import ExpandRequest
from metacot.prm.base import ScoreRequest
from metacot.problems.countdown import CountdownDomain, CountdownProblem, generate_problems
from metacot.search import AStarConfig, Budget, MCTSConfig, Runner, make_search
from metacot.tree import SearchTree

# vLLM on a CPU-only machine: loopback only, one process, a small KV cache, no hub.
for _name, _value in {
    "VLLM_HOST_IP": "127.0.0.1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
}.items():
    os.environ.setdefault(_name, _value)
pytest.importorskip("vllm")
pytestmark = pytest.mark.vllm


from metacot.backends.generate import Sampling  # noqa: E402
from metacot.policy.vllm import VLLMPolicy, VLLMPolicyConfig  # noqa: E402
from metacot.prm.readout import Readout  # noqa: E402
from metacot.prm.transformers import TransformersPRM, TransformersPRMConfig  # noqa: E402
from metacot.prm.vllm import VLLMPRM, VLLMPRMConfig  # noqa: E402

DOMAIN = CountdownDomain()
PROBLEMS = generate_problems(12, 3)
ENGINE = {"dtype": "float32", "max_model_len": 512, "enforce_eager": True}  # what a CPU needs
PATHS = [["25 - 19 = 6"], ["1 + 2 = 3", "3 * 4 = 12"], ["7 / 7 = 1", "x y z", "9 - 1 = 8"]]


# One engine per model for the whole module: deleting a vLLM engine tears down state the others share.
@pytest.fixture(scope="module")
def policy(lm_dir) -> VLLMPolicy:
    return VLLMPolicy(VLLMPolicyConfig(model=lm_dir, max_tokens=16, **ENGINE), DOMAIN)


@pytest.fixture(scope="module")
def tag_prm(lm_dir) -> VLLMPRM:
    return VLLMPRM(VLLMPRMConfig(model=lm_dir, **ENGINE), DOMAIN)


@pytest.fixture(scope="module")
def head_prm(head_dir) -> VLLMPRM:
    return VLLMPRM(VLLMPRMConfig(model=head_dir, style="separator-head", **ENGINE), DOMAIN)


class Spy:
    """Wraps an engine method and records the number of prompts of every call."""

    def __init__(self, method):
        self.method, self.calls = method, []

    def __call__(self, prompts, *args, **kwargs):
        self.calls.append(len(prompts))
        return self.method(prompts, *args, **kwargs)


def expand_requests(problems: list[CountdownProblem], counts: list[int], seed: int = 1000) -> list[ExpandRequest]:
    requests = []
    for i, (problem, n) in enumerate(zip(problems, counts, strict=True)):
        tree, (root,) = chain(problem, [])
        requests.append(ExpandRequest(problem=problem, tree=tree, node=root, n=n, seed=seed + i))
    return requests


def score_requests() -> list[ScoreRequest]:
    out = []
    for problem in PROBLEMS[:4]:
        for steps in PATHS:
            tree, nodes = chain(problem, steps)
            out.append(ScoreRequest(problem=problem, tree=tree, node=nodes[-1], seed=0))
    return out


def outline(tree: SearchTree) -> list[tuple]:
    return [(n.parent, n.step, n.tokens, n.finish_reason, n.error, n.score is None) for n in tree.nodes] + [tree.trace]


def as_tuples(proposals) -> list[tuple]:
    return [(p.text, p.tokens, p.finish_reason) for p in proposals]


# --- the policy ------------------------------------------------------------------------------------


def test_proposals_are_normalized(policy):
    counts = [1, 2, 3, 4] * 2
    proposals = policy.propose(expand_requests(PROBLEMS[:8], counts))
    assert [len(p) for p in proposals] == counts
    flat = [p for props in proposals for p in props]
    for p in flat:
        assert "\n" not in p.text and p.text == p.text.strip()
        assert p.finish_reason in ("stop", "length")
        assert 1 <= p.tokens <= 16
        assert math.isfinite(p.logprob) and p.logprob < 0
    assert any(p.finish_reason == "stop" and p.text for p in flat)
    assert all(p.tokens == 16 for p in flat if p.finish_reason == "length")


def test_a_step_cut_at_max_tokens_is_flagged(policy, monkeypatch):
    monkeypatch.setattr(policy, "config", dataclasses.replace(policy.config, max_tokens=2))
    flat = [p for props in policy.propose(expand_requests(PROBLEMS[:4], [4] * 4)) for p in props]
    cut = [p for p in flat if p.finish_reason == "length"]
    assert cut and all(p.tokens == 2 and "\n" not in p.text for p in cut)


def test_a_prompt_past_the_context_is_cut_off_without_failing_the_round(policy):
    tree, nodes = chain(PROBLEMS[0], ["1 + 2 = 3"] * 120)  # far past max_model_len (512 tokens)
    long = ExpandRequest(problem=PROBLEMS[0], tree=tree, node=nodes[-1], n=2, seed=1)
    short = expand_requests(PROBLEMS[1:2], [2])[0]
    cut, fine = policy.propose([long, short])
    assert [(p.text, p.tokens, p.finish_reason) for p in cut] == [("", 0, "length")] * 2
    assert len(fine) == 2 and all(p.tokens > 0 for p in fine)


def test_no_request_asks_for_more_tokens_than_max_model_len_leaves(policy, monkeypatch):
    """The longest chain whose prompt still fits: its steps and rollouts take no more than the few tokens left, a
    short prompt's in the same call more."""
    monkeypatch.setattr(policy, "config", dataclasses.replace(policy.config, max_tokens=64, rollout_max_tokens=64))
    context = policy.llm.model_config.max_model_len

    def request(k: int) -> tuple[ExpandRequest, int]:
        tree, nodes = chain(PROBLEMS[0], ["1 + 2 = 3"] * k)
        r = ExpandRequest(problem=PROBLEMS[0], tree=tree, node=nodes[-1], n=4, seed=1)
        return r, len(policy.tokenizer(policy.prompts.prompt(r), add_special_tokens=False)["input_ids"])

    k = 1
    while request(k + 1)[1] < context:
        k += 1
    long, tokens = request(k)
    room = context - tokens
    assert 0 < room < 16
    short = expand_requests(PROBLEMS[1:2], [4])[0]
    (cut, _), (rolled, rolled_short) = policy.propose([long, short]), policy.rollout([long, short])
    assert all(p.tokens <= room and p.finish_reason in ("stop", "length") for p in cut)
    assert all(r.tokens <= room for r in rolled) and max(r.tokens for r in rolled_short) > room


def test_same_seed_same_proposals_whatever_the_batch(policy):
    requests = expand_requests(PROBLEMS[:8], [3] * 8)
    together = policy.propose(requests)
    reversed_order = policy.propose(requests[::-1])[::-1]
    alone = policy.propose([requests[5]])[0]
    mixed = policy.propose(expand_requests(PROBLEMS[8:], [2] * 4, seed=7) + [requests[5]])[-1]
    for other in (reversed_order[5], alone, mixed):
        assert as_tuples(other) == as_tuples(together[5])
        assert [p.logprob for p in other] == pytest.approx([p.logprob for p in together[5]], abs=1e-4)
    assert as_tuples(policy.propose(expand_requests(PROBLEMS[:8], [3] * 8, seed=99))[5]) != as_tuples(together[5])


def test_one_generate_call_for_a_round_of_many_requests(policy, monkeypatch):
    # 64 prompts of ~100 tokens overflow one engine step: the case where vLLM on CPU needs chunked prefill off.
    problems = generate_problems(64, 4)
    spy = Spy(policy.llm.generate)
    monkeypatch.setattr(policy.llm, "generate", spy)
    assert policy.propose([]) == []
    proposals = policy.propose(expand_requests(problems, [2] * len(problems)))
    assert spy.calls == [64] and [len(p) for p in proposals] == [2] * 64


def test_rollouts_run_to_the_end_in_one_call_and_come_back_as_steps(policy, monkeypatch):
    spy = Spy(policy.llm.generate)
    monkeypatch.setattr(policy.llm, "generate", spy)
    requests = expand_requests(PROBLEMS[:4], [3, 1, 2, 3])
    rollouts = policy.rollout(requests)
    assert spy.calls == [4] and [len(r) for r in rollouts] == [3, 1, 2, 3]
    steps = [step for per_request in rollouts for completion in per_request for step in completion]
    assert sum(len(completion) > 1 for per_request in rollouts for completion in per_request) > 0
    assert all(step and step == step.strip() and "\n" not in step for step in steps)
    assert policy.rollout(requests[::-1])[::-1] == rollouts


def test_texts_come_from_one_call_seeded_per_prompt_and_stop_at_stop_strings(policy, monkeypatch):
    spy = Spy(policy.llm.generate)
    monkeypatch.setattr(policy.llm, "generate", spy)
    prompts = [DOMAIN.prompt(p) for p in PROBLEMS[:6]]
    sampling = Sampling(max_tokens=32, seed=3)
    texts = policy.generate(prompts, sampling)
    assert spy.calls == [6] and len(texts) == 6 and any(texts)
    assert policy.generate(prompts[::-1], sampling)[::-1] == texts
    assert policy.generate(prompts[2:3], sampling) == texts[2:3]  # whatever else is in the call
    assert policy.generate(prompts, Sampling(max_tokens=32, seed=4)) != texts
    stopped = policy.generate(prompts, Sampling(max_tokens=32, seed=3, stop=("\n",)))
    assert any("\n" in text for text in texts)
    assert stopped == [text.split("\n")[0] for text in texts]
    assert len(policy.generate(["1 + 2 = 3\n"], Sampling(max_tokens=4, chat=False))) == 1


def test_a_text_prompt_past_the_context_is_an_error(policy):
    with pytest.raises(ValueError, match=r"policy\.vllm: prompts \[1\] leave no room"):
        policy.generate(["short", "1 + 2 = 3 " * 300], Sampling(max_tokens=4))


def test_a_missing_model_is_named_before_any_engine_starts(tmp_path):
    with pytest.raises(ValueError, match=r"policy\.vllm\.model: no model at"):
        VLLMPolicy(VLLMPolicyConfig(model=str(tmp_path / "nowhere"), **ENGINE), DOMAIN)
    with pytest.raises(ValueError, match=r"prm\.vllm\.model: no model at"):
        VLLMPRM(VLLMPRMConfig(model=str(tmp_path / "nowhere"), **ENGINE), DOMAIN)
    with pytest.raises(ValueError, match=r"^temperature: must be a finite number above 0"):
        VLLMPolicy(VLLMPolicyConfig(model=str(tmp_path), temperature=0.0), DOMAIN)


# --- the PRM ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["step-tag", "separator-head"])
def test_prm_scores_equal_the_transformers_prm(style, lm_dir, head_dir, tag_prm, head_prm):
    prm, folder = (tag_prm, lm_dir) if style == "step-tag" else (head_prm, head_dir)
    reference = TransformersPRM(TransformersPRMConfig(model=folder, style=style), DOMAIN)
    requests = score_requests()
    got, want = prm.step_scores(requests), reference.step_scores(requests)
    assert [len(s) for s in got] == [len(r.steps) for r in requests]
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=1e-4)
    assert prm.score(requests) == pytest.approx(reference.score(requests), abs=1e-4)
    assert len({round(s, 4) for s in prm.score(requests)}) > 1


def test_prm_aggregates_like_the_transformers_prm(lm_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(lm_dir)
    requests = score_requests()[:3]
    rows = [[[0.9], [0.2], [0.5]][: len(r.steps)] for r in requests]
    expected = {
        "last": [0.9, 0.2, 0.5],
        "min": [0.9, 0.2, 0.2],
        "prod": [0.9, 0.18, 0.09],
        "mean": [0.9, 0.55, 1.6 / 3],
    }
    for aggregate, scores in expected.items():
        reader = Readout(tokenizer, VLLMPRMConfig(aggregate=aggregate), DOMAIN, "prm.vllm")
        assert reader.scores(requests, rows) == pytest.approx(scores)
    with pytest.raises(ValueError, match=r"prm\.vllm\.aggregate"):
        Readout(tokenizer, VLLMPRMConfig(aggregate="max"), DOMAIN, "prm.vllm")
    with pytest.raises(ValueError, match=r"prm\.vllm\.style"):
        Readout(tokenizer, VLLMPRMConfig(style="reward"), DOMAIN, "prm.vllm")


def test_prm_refuses_rows_that_do_not_match_the_steps(lm_dir):
    from transformers import AutoTokenizer

    reader = Readout(AutoTokenizer.from_pretrained(lm_dir), VLLMPRMConfig(), DOMAIN, "prm.vllm")
    requests = score_requests()[1:2]  # two steps
    with pytest.raises(ValueError, match="1 markers for 2 steps"):
        reader.scores(requests, [[[0.5]]])
    with pytest.raises(ValueError, match=r"prm\.vllm\.model: expected 1 value"):
        reader.scores(requests, [[[0.5, 0.5], [0.5, 0.5]]])
    tree, (root,) = chain(PROBLEMS[0], [])
    with pytest.raises(ValueError, match="has no step to score"):
        reader.token_ids([ScoreRequest(problem=PROBLEMS[0], tree=tree, node=root, seed=0)])


# --- whole searches --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "search, config",
    [
        ("mcts", MCTSConfig(simulations=4, expand_width=2)),
        ("astar", AStarConfig(budget=Budget(nodes=12), expand_width=2)),
    ],
)
def test_runner_with_vllm_policy_and_prm(search, config, policy, tag_prm, monkeypatch):
    generate, encode = Spy(policy.llm.generate), Spy(tag_prm.llm.encode)
    monkeypatch.setattr(policy.llm, "generate", generate)
    monkeypatch.setattr(tag_prm.llm, "encode", encode)

    def run() -> tuple[list[SearchTree], Runner]:
        runner = Runner(DOMAIN, policy, tag_prm, make_search(search, config), search, seed=5)
        return list(runner.run(PROBLEMS[:3])), runner

    trees, runner = run()
    assert [t.problem_id for t in trees] == [p.id for p in PROBLEMS[:3]]
    assert len(generate.calls) == runner.stats.policy_calls and len(encode.calls) == runner.stats.prm_calls
    assert generate.calls[0] == 3  # the three searches' first expansions share one call
    for tree in trees:
        children = tree.nodes[1:]
        assert children
        for node in children:
            assert node.tokens > 0 and node.logprob < 0 and node.finish_reason in ("stop", "length")
            assert (node.finish_reason == "length") <= (node.error is not None)
            assert node.score is None or 0 <= node.score <= 1
        assert any(node.score is not None for node in children)
    again, _ = run()
    assert [outline(t) for t in again] == [outline(t) for t in trees]
    for a, b in zip(again, trees, strict=True):
        assert [n.logprob for n in a.nodes[1:]] == pytest.approx([n.logprob for n in b.nodes[1:]], abs=1e-4)
