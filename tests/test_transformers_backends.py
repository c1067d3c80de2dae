"""The transformers policy and PRMs on tiny local models: prompts, normalization, batching, read-out, validation."""

from __future__ import annotations

import dataclasses
import math
import os
import random

import pytest
from conftest import PoolSpy, chain

from metacot.backends.generate import Sampling
from metacot.backends.request import Conditioning
from metacot.policy.base import ExpandRequest
from metacot.prm.base import ScoreRequest
from metacot.problems.countdown import CountdownDomain, CountdownProblem, generate_problems
from metacot.search import MCTSConfig, Runner, make_search
from metacot.search.expand import TRUNCATED, grow

os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_models import SEPARATOR, STEP_TAG  # noqa: E402

from metacot.policy.transformers import TransformersPolicy, TransformersPolicyConfig  # noqa: E402
from metacot.prm.transformers import TransformersPRM, TransformersPRMConfig  # noqa: E402

DOMAIN = CountdownDomain()
PROBLEMS = generate_problems(20, 7)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def policy(lm_dir) -> TransformersPolicy:
    return TransformersPolicy(TransformersPolicyConfig(model=lm_dir), DOMAIN)


@pytest.fixture(scope="module")
def tag_prm(lm_dir) -> TransformersPRM:
    return TransformersPRM(TransformersPRMConfig(model=lm_dir), DOMAIN)


@pytest.fixture(scope="module")
def head_prm(head_dir) -> TransformersPRM:
    return TransformersPRM(TransformersPRMConfig(model=head_dir, style="separator-head"), DOMAIN)


def expand_requests(problems: list[CountdownProblem], n: int | list[int]) -> list[ExpandRequest]:
    counts = n if isinstance(n, list) else [n] * len(problems)
    requests = []
    for i, (problem, k) in enumerate(zip(problems, counts, strict=True)):
        tree, (root,) = chain(problem, [])
        requests.append(ExpandRequest(problem=problem, tree=tree, node=root, n=k, seed=1000 + i))
    return requests


def score_request(problem: CountdownProblem, steps: list[str]) -> ScoreRequest:
    tree, nodes = chain(problem, steps)
    return ScoreRequest(problem=problem, tree=tree, node=nodes[-1], seed=0)


# --- prompts --------------------------------------------------------------------------------------


def test_child_prompts_extend_the_parents_text_and_tokens(policy):
    problem = PROBLEMS[0]
    tree, nodes = chain(problem, ["25 + 3 = 28", "28 - 4 = 24"])
    prompts = [
        policy.prompts.prompt(ExpandRequest(problem=problem, tree=tree, node=node, n=1, seed=0)) for node in nodes
    ]
    chat = [{"role": "user", "content": DOMAIN.prompt(problem)}]
    assert prompts[0] == policy.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert prompts[1] == prompts[0] + "25 + 3 = 28\n"
    assert prompts[2] == prompts[1] + "28 - 4 = 24\n"

    # and with the model's own steps, whatever it writes
    for proposal in policy.propose([ExpandRequest(problem=problem, tree=tree, node=nodes[0], n=8, seed=5)])[0]:
        child = tree.add_child(nodes[0], proposal.text)
        prompt = policy.prompts.prompt(ExpandRequest(problem=problem, tree=tree, node=child, n=1, seed=0))
        assert prompt.startswith(prompts[0])
        prompts.append(prompt)
    for parent, child in [(prompts[0], prompts[1]), (prompts[1], prompts[2])] + [(prompts[0], p) for p in prompts[3:]]:
        parent_ids = policy.tokenizer.encode(parent, add_special_tokens=False)
        assert policy.tokenizer.encode(child, add_special_tokens=False)[: len(parent_ids)] == parent_ids


def test_a_conditioned_request_opens_the_question_with_its_prompt_head(policy):
    problem = PROBLEMS[0]
    tree, (root, child) = chain(problem, ["25 + 3 = 28"])
    head = "Behaviours that may help:\nbehavior_x: do x\n\n"
    plain = [policy.prompts.prompt(ExpandRequest(problem, tree, node, 0)) for node in (root, child)]
    conditioned = [
        policy.prompts.prompt(ExpandRequest(problem, tree, node, 0, conditioning=Conditioning(prompt_head=head)))
        for node in (root, child)
    ]
    chat = [{"role": "user", "content": head + DOMAIN.prompt(problem)}]
    assert conditioned[0] == policy.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert conditioned[1] == conditioned[0] + "25 + 3 = 28\n"  # the same head for every node: prefix caches hit
    assert plain[0] != conditioned[0] and head not in plain[0]


def test_a_policy_built_without_a_domain_generates_text_and_proposes_no_steps(lm_dir):
    text_only = TransformersPolicy(TransformersPolicyConfig(model=lm_dir))
    assert len(text_only.generate(["Say something.", "And again."], Sampling(max_tokens=4))) == 2
    with pytest.raises(ValueError, match="built without a domain"):
        text_only.propose(expand_requests(PROBLEMS[:1], 1))


# --- the policy -----------------------------------------------------------------------------------


def test_proposals_are_normalized_against_what_the_model_generated(lm_dir, monkeypatch):
    policy = TransformersPolicy(TransformersPolicyConfig(model=lm_dir, max_tokens=9), DOMAIN)  # some steps are cut
    spy = PoolSpy(policy.model, monkeypatch)
    requests = expand_requests(PROBLEMS[:6], 4)
    proposals = policy.propose(requests)
    (made,) = spy.calls
    rows = [p for props in proposals for p in props]  # seeds ascend with the index: rows are in request order
    assert [len(props) for props in proposals] == [4] * 6
    assert {p.finish_reason for p in rows} == {"stop", "length"}
    for row, p in zip(made, rows, strict=True):
        assert "\n" not in p.text and p.text == p.text.strip()
        assert 1 <= p.tokens <= policy.config.max_tokens
        assert math.isfinite(p.logprob) and p.logprob <= 0
        generated = torch.tensor(row.made[: p.tokens])
        text = policy.tokenizer.decode(generated, skip_special_tokens=True)
        if p.finish_reason == "length":
            assert p.tokens == policy.config.max_tokens and text.strip() == p.text
        else:
            assert "\n" in text or generated[-1].item() in policy.eos_ids
            assert text.split("\n")[0].strip() == p.text
        # the log-probability is the model's, under its raw distribution, of exactly these tokens
        prompt = torch.tensor(row.prompt)
        ids = torch.cat([prompt, generated])[None]
        with torch.inference_mode():
            logits = policy.model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
        expected = torch.log_softmax(logits, -1).gather(1, generated[:, None]).sum().item()
        assert p.logprob == pytest.approx(expected, abs=1e-3)


def test_steps_cut_at_max_tokens_are_flagged_and_become_dead_nodes(lm_dir):
    short = TransformersPolicy(TransformersPolicyConfig(model=lm_dir, max_tokens=2), DOMAIN)
    requests = expand_requests(PROBLEMS[:4], 4)
    proposals = short.propose(requests)
    flat = [p for props in proposals for p in props]
    assert all(p.tokens <= 2 for p in flat)
    assert all(p.tokens == 2 for p in flat if p.finish_reason == "length")
    assert sum(p.finish_reason == "length" for p in flat) >= len(flat) // 2
    for request, props in zip(requests, proposals, strict=True):
        for child, p in zip(grow(DOMAIN, request.problem, request.tree, request.node, props), props, strict=True):
            if p.finish_reason == "length":
                assert child.dead and child.terminal and child.error == TRUNCATED


def test_one_pool_for_many_requests_with_different_n(policy, monkeypatch):
    spy = PoolSpy(policy.model, monkeypatch)
    counts = [1, 2, 3, 4] * 5
    proposals = policy.propose(expand_requests(PROBLEMS, counts))
    assert len(spy.calls) == 1 and len(spy.calls[0]) == sum(counts)
    assert spy.shapes[0][0] == sum(counts)  # all read together: fewer than batch_size
    assert [len(props) for props in proposals] == counts


def test_batch_size_caps_the_rows_generated_together_and_a_waiting_row_joins_when_one_leaves(lm_dir, monkeypatch):
    small = TransformersPolicy(TransformersPolicyConfig(model=lm_dir, batch_size=16), DOMAIN)
    spy = PoolSpy(small.model, monkeypatch)
    proposals = small.propose(expand_requests(PROBLEMS, 3))
    assert len(spy.calls[0]) == 60 and spy.shapes[0][0] == 16 and max(shape[0] for shape in spy.shapes) == 16
    prompts_read = [shape for shape in spy.shapes[1:] if shape[1] > 1]  # a joining row's prompt, read mid-pool
    assert sum(shape[0] for shape in prompts_read) == 60 - 16
    assert [len(props) for props in proposals] == [3] * 20


def test_a_requests_samples_do_not_depend_on_the_other_requests_of_the_call(lm_dir):
    small = TransformersPolicy(TransformersPolicyConfig(model=lm_dir, batch_size=4), DOMAIN)
    requests = expand_requests(PROBLEMS[:6], 3)
    alone = [small.propose([r])[0] for r in requests]
    together = small.propose(requests)  # in other batches, beside other padding

    def read(proposals: list[list]) -> list[tuple]:
        return [(p.text, p.tokens, p.finish_reason) for ps in proposals for p in ps]

    def logprobs(proposals: list[list]) -> list[float]:
        return [p.logprob for ps in proposals for p in ps]

    assert read(together) == read(alone)  # the same samples
    assert logprobs(together) == pytest.approx(logprobs(alone), abs=1e-4)  # batched numerics: the last bits


def test_proposals_do_not_depend_on_request_order_nor_touch_the_global_rng(policy):
    requests = expand_requests(PROBLEMS[:8], 3)
    torch.manual_seed(123)
    expected_draw = torch.rand(1)
    torch.manual_seed(123)
    forward = policy.propose(requests)
    assert torch.rand(1) == expected_draw
    backward = policy.propose(requests[::-1])[::-1]
    assert forward == backward
    assert forward != policy.propose([dataclasses.replace(r, seed=r.seed + 1) for r in requests])


# --- the PRMs -------------------------------------------------------------------------------------

STEPS = ["25 + 3 = 28", "28 - 4 = 24", "24 * 2 = 48"]


def test_step_tag_scores_are_p_good_over_good_and_bad_at_each_tag(tag_prm):
    problem = PROBLEMS[0]
    tokenizer, model = tag_prm.tokenizer, tag_prm.model
    text = DOMAIN.prompt(problem) + " " + "\n".join(f"{s} {STEP_TAG}" for s in STEPS)
    ids = torch.tensor([tokenizer.encode(text)])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0]
    tag, good, bad = tokenizer.convert_tokens_to_ids([STEP_TAG, "+", "-"])
    at = (ids[0] == tag).nonzero().squeeze(1)
    assert len(at) == len(STEPS)
    expected = torch.softmax(logits[at][:, [good, bad]], -1)[:, 0].tolist()
    request = score_request(problem, STEPS)
    assert tag_prm.step_scores([request])[0] == pytest.approx(expected, abs=1e-6)
    assert tag_prm.score([request]) == pytest.approx([expected[-1]], abs=1e-6)


def test_separator_head_scores_are_the_heads_class_one_at_each_separator(head_prm):
    problem = PROBLEMS[1]
    tokenizer, model = head_prm.tokenizer, head_prm.model
    chat = [
        {"role": "user", "content": DOMAIN.prompt(problem)},
        {"role": "assistant", "content": "".join(s + SEPARATOR for s in STEPS)},
    ]
    text = tokenizer.apply_chat_template(chat, tokenize=False)
    ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0]
    at = ids[0] == tokenizer.convert_tokens_to_ids(SEPARATOR)
    expected = torch.softmax(logits[at], -1)[:, 1].tolist()
    assert len(expected) == len(STEPS)
    assert head_prm.step_scores([score_request(problem, STEPS)])[0] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("which", ["tag_prm", "head_prm"])
def test_scores_do_not_depend_on_the_batch(which, request):
    prm = request.getfixturevalue(which)
    rng = random.Random(which)
    steps = [f"{rng.randint(1, 99)} + {rng.randint(1, 99)} = {rng.randint(1, 999)}" for _ in range(40)]
    requests = [score_request(problem, rng.sample(steps, rng.randint(1, 4))) for problem in PROBLEMS[:10]]
    alone = [prm.score([r])[0] for r in requests]
    together = prm.score(requests)
    reversed_ = prm.score(requests[::-1])[::-1]
    assert together == pytest.approx(alone, abs=1e-5)
    assert reversed_ == pytest.approx(alone, abs=1e-5)
    assert all(0.0 <= s <= 1.0 for s in together)
    assert len(set(together)) > 1


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [("last", lambda s: s[-1]), ("min", min), ("prod", math.prod), ("mean", lambda s: sum(s) / len(s))],
)
def test_aggregates_over_the_step_scores(aggregate, expected, head_prm):
    request = score_request(PROBLEMS[2], STEPS)
    steps = head_prm.step_scores([request])[0]
    prm = TransformersPRM(dataclasses.replace(head_prm.config, aggregate=aggregate), DOMAIN)
    assert prm.score([request]) == pytest.approx([expected(steps)], abs=1e-6)


def test_markers_written_in_a_step_by_the_policy_are_removed(tag_prm, head_prm):
    clean = score_request(PROBLEMS[3], STEPS)
    for prm, marker in ((tag_prm, STEP_TAG), (head_prm, SEPARATOR)):
        dirty = score_request(PROBLEMS[3], [f"{s} {marker}" for s in STEPS])
        assert prm.step_scores([dirty])[0] == pytest.approx(prm.step_scores([clean])[0], abs=1e-6)


# --- validation -----------------------------------------------------------------------------------


def test_a_missing_model_is_a_clear_error(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"^policy\.transformers\.model: no model at '.*nowhere': need a local folder"):
        TransformersPolicy(TransformersPolicyConfig(model=missing), DOMAIN)
    with pytest.raises(ValueError, match=r"^prm\.transformers\.model: no model at '.*nowhere': need a local folder"):
        TransformersPRM(TransformersPRMConfig(model=missing), DOMAIN)
    with pytest.raises(ValueError, match=r"^policy\.transformers\.model: cannot load"):
        TransformersPolicy(TransformersPolicyConfig(model=str(tmp_path)), DOMAIN)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"step_tag": "STEPTAG"}, r"prm\.transformers\.step_tag: 'STEPTAG' must be a single token"),
        ({"step_tag": "+"}, r"prm\.transformers\.step_tag: '\+' merges with the text next to it"),
        ({"good_token": "good"}, r"prm\.transformers\.good_token: 'good' must be a single token"),
        ({"bad_token": "<nope>"}, r"prm\.transformers\.bad_token: '<nope>' must be a single token"),
        ({"style": "separator-head"}, r"prm\.transformers\.model: .* is not a LlamaForTokenClassification checkpoint"),
        ({"style": "value-head"}, r"prm\.transformers\.style: expected one of step-tag, separator-head"),
        ({"aggregate": "max"}, r"prm\.transformers\.aggregate: expected one of last, min, prod, mean"),
        ({"dtype": "float64"}, r"prm\.transformers\.dtype: expected one of"),
        ({"device": "gpu0"}, r"prm\.transformers\.device:"),
    ],
)
def test_prm_settings_are_validated_at_construction(overrides, message, lm_dir):
    with pytest.raises(ValueError, match=message):
        TransformersPRM(TransformersPRMConfig(model=lm_dir, **overrides), DOMAIN)


def test_separator_must_stay_its_own_token(head_dir):
    with pytest.raises(ValueError, match=r"prm\.transformers\.separator: '<sep>' must be a single token"):
        TransformersPRM(TransformersPRMConfig(model=head_dir, style="separator-head", separator="<sep>"), DOMAIN)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"temperature": 0.0}, r"^temperature: must be a finite number above 0"),
        ({"max_tokens": 0}, r"^max_tokens: must be an integer of at least 1"),
        ({"batch_size": 0}, r"^batch_size: must be an integer of at least 1"),
        ({"step_delimiter": ""}, r"policy\.transformers\.step_delimiter: must not be empty"),
    ],
)
def test_policy_settings_are_validated(overrides, message, lm_dir):
    with pytest.raises(ValueError, match=message):
        TransformersPolicy(TransformersPolicyConfig(model=lm_dir, **overrides), DOMAIN)


# --- end to end -----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["tag_prm", "head_prm"])
def test_mcts_runs_end_to_end_with_the_tiny_models(which, policy, request, monkeypatch):
    prm = request.getfixturevalue(which)
    spy = PoolSpy(policy.model, monkeypatch)
    config = MCTSConfig(simulations=4, expand_width=2)
    runner = Runner(DOMAIN, policy, prm, make_search("mcts", config), "mcts", seed=0)
    trees = list(runner.run(generate_problems(3, 0)))
    assert [t.problem_id for t in trees] == [p.id for p in generate_problems(3, 0)]
    assert len(spy.calls) == runner.stats.policy_calls  # one pool per round
    assert runner.stats.mean_policy_batch > 1
    children = [node for tree in trees for node in tree.nodes[1:]]
    assert children and all(0.0 <= node.score <= 1.0 for node in children)
    assert any(node.error and node.error != TRUNCATED for node in children)  # illegal steps, checked by the domain
    assert all(node.tokens >= 1 and node.logprob <= 0 for node in children)
