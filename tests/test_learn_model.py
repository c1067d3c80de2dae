"""The learn experiment's model side: the character tokenizer, training at a token budget with TRL's SFTTrainer,
evaluation (greedy and seeded samples), and the validity walk of a model's own trace in every format."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")

import torch  # noqa: E402
import trl  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from metacot.learn.eval_config import EvalConfig  # noqa: E402
from metacot.learn.evaluate import attempt, evaluate  # noqa: E402
from metacot.learn.model import ModelConfig, build_model, build_tokenizer, parameter_count  # noqa: E402
from metacot.learn.train import TrainConfig, batch_size, fed_records, sft_config, train  # noqa: E402
from metacot.learn.validity import check_trace  # noqa: E402
from metacot.problems.countdown import CountdownProblem  # noqa: E402

TINY = ModelConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, max_length=160)
PROBLEM = CountdownProblem("p0", (4, 9, 3), 24)
SOLVED = "9 - 3 = 6. Now I have [4, 6].\n4 * 6 = 24. 24 = 24, the target."
ANSWER = "\n</think>\n<answer> 4 * (9 - 3) </answer>"


def records(count: int = 24) -> list[dict]:
    """Prompt-completion records in the experiment's compact layout; every fifth one long (cut at TINY's length)."""
    out = []
    for i in range(count):
        a, b, c = 2 + i % 7, 3 + i % 5, 1 + i % 3
        steps = f"{a} + {b} = {a + b}. Now I have [{c}, {a + b}].\n{c} * {a + b} = {c * (a + b)}. "
        steps += f"{c * (a + b)} = {c * (a + b)}, the target."
        body = steps * (6 if i % 5 == 0 else 1)
        out.append(
            {
                "problem_id": f"p{i}",
                "prompt": f"nums: {a} {b} {c} target: {c * (a + b)}\n",
                "completion": f"<think>\n{body}\n</think>\n<answer> {c} * ({a} + {b}) </answer>",
            }
        )
    return out


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer([r["prompt"] + r["completion"] for r in records()], directory)
    return directory


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tokenizer_dir):
    directory = tmp_path_factory.mktemp("model")
    config = TrainConfig(train_tokens=5000, batch_size=4, threads=1)
    return train(records(), tokenizer_dir, TINY, config, seed=0, directory=directory, progress=False)


def test_tokenizer_round_trips_every_character(tmp_path):
    texts = ["nums: 3 7 9 target: 24\n", "<think>\n8/3 − (−5) = x\t[é, ü]</think>"]
    build_tokenizer(texts, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.bos_token_id and len(ids) == len(text) + 1  # one token a character
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer("Z")["input_ids"][1] == tokenizer.unk_token_id  # a character the texts never had
    assert tokenizer.padding_side == "left"


def test_merged_tokenizer_round_trips_keeps_digits_single_and_shortens_words(tmp_path):
    texts = [r["prompt"] + r["completion"] for r in records()] + ["8/3 − (−5) = x\t[é, ü]"]
    build_tokenizer(texts, tmp_path, merges=64)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.bos_token_id and len(ids) < len(text)  # merged pieces: fewer tokens than characters
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("Now I have 1234", add_special_tokens=False)["input_ids"])
    assert [p for p in pieces if any(c.isdigit() for c in p)] == ["1", "2", "3", "4"]  # a digit is a token alone
    assert "have" in "".join(pieces) and len(pieces) < len("Now I have 1234")
    assert tokenizer.decode(tokenizer("Zebra 99")["input_ids"], skip_special_tokens=True) == "Zebra 99"  # any byte
    with pytest.raises(ValueError, match="merges"):
        ModelConfig(merges=-1)


def test_model_is_fresh_llama_with_tied_embeddings(tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = build_model(TINY, tokenizer, seed=0)
    assert model.config.model_type == "llama" and model.config.max_position_embeddings >= TINY.max_length
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    h, layers = TINY.hidden_size, TINY.num_layers
    layer = 4 * h * h + 3 * h * TINY.intermediate_size + 2 * h  # attention, feed-forward, two norms
    assert parameter_count(model) == len(tokenizer) * h + layers * layer + h  # the embeddings counted once
    with pytest.raises(ValueError, match="divide"):
        ModelConfig(hidden_size=30, num_heads=4)


def test_training_stops_at_the_token_budget(trained, tokenizer_dir):
    lengths = [min(len(r["prompt"] + r["completion"]) + 2, TINY.max_length) for r in records()]  # BOS and EOS
    assert 5000 <= trained.tokens_seen < 5000 + max(lengths)  # the budget, passed by less than one record
    assert trained.records_seen > len(records())  # short of data: the records repeat as epochs
    assert trained.steps == -(-trained.records_seen // 4)
    assert trained.cut_records == sum(len(r["prompt"] + r["completion"]) + 2 > TINY.max_length for r in records())
    assert trained.cut_records > 0 and trained.final_loss > 0 and trained.wall_time > 0
    assert AutoModelForCausalLM.from_pretrained(trained.directory) is not None
    assert AutoTokenizer.from_pretrained(trained.directory).vocab == AutoTokenizer.from_pretrained(tokenizer_dir).vocab


def test_equal_problems_feeds_every_record_as_often_whatever_its_length():
    lengths = [5, 50, 500, 7] * 3
    twice = fed_records(TrainConfig(epochs=2), lengths, 100, 4, seed=0)
    assert sorted(twice) == sorted(list(range(12)) * 2)  # each problem twice, the long ones too
    half = fed_records(TrainConfig(epochs=0.5), lengths, 100, 4, seed=0)
    assert len(half) == len(set(half)) == 6
    by_tokens = fed_records(TrainConfig(train_tokens=1000), lengths, 100, 4, seed=0)
    fed = [min(lengths[i], 100) for i in by_tokens]
    assert sum(fed) >= 1000 > sum(fed[:-1])  # the token budget, passed by less than one record
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)


def test_a_token_batch_holds_about_batch_tokens_whatever_the_record_length(tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    short, long = records()[1:5], records()[:1]  # ~135 and 424 characters, a token each
    config = TrainConfig(batch_size=4, batch_tokens=600)
    mean = sum(len(r["prompt"] + r["completion"]) + 2 for r in short) / len(short)  # BOS and EOS
    assert batch_size(config, tokenizer, short, 4096) == round(600 / mean) == 4
    assert batch_size(config, tokenizer, long, 4096) == 1 and batch_size(config, tokenizer, long, 100) == 6  # cut
    assert batch_size(TrainConfig(batch_size=4), tokenizer, long, 4096) == 4  # records per step unless told
    with pytest.raises(ValueError, match="batch_tokens"):
        TrainConfig(batch_tokens=0)


def test_same_seed_same_weights(trained, tokenizer_dir, tmp_path):
    config = TrainConfig(train_tokens=5000, batch_size=4, threads=1)
    again = train(records(), tokenizer_dir, TINY, config, seed=0, directory=tmp_path / "again", progress=False)
    other = train(records(), tokenizer_dir, TINY, config, seed=1, directory=tmp_path / "other", progress=False)
    weights = [AutoModelForCausalLM.from_pretrained(r.directory).state_dict() for r in (trained, again, other)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_prepared_batch_appends_eos_and_masks_the_prompt(tokenizer_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = TrainConfig(train_tokens=100, batch_size=2, threads=1)
    rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in records(2)]
    trainer = trl.SFTTrainer(
        model=build_model(TINY, tokenizer, seed=0),
        args=sft_config(config, 0, tmp_path, config.batch_size),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    prepared = [trainer.train_dataset[i] for i in range(2)]
    batch = trainer.data_collator(prepared)
    for row, ids, labels in zip(rows, batch["input_ids"].tolist(), batch["labels"].tolist(), strict=True):
        prompt = len(row["prompt"]) + 1  # BOS and the prompt's characters
        length = prompt + len(row["completion"]) + 1  # then the completion and EOS
        assert ids[length - 1] == tokenizer.eos_token_id
        assert labels[:prompt] == [-100] * prompt and labels[prompt:length] == ids[prompt:length]
        assert tokenizer.decode(ids[prompt : length - 1]) == row["completion"]
        assert labels[length:] == [-100] * (len(labels) - length)  # padding carries no loss


def test_evaluate_gives_greedy_and_seeded_samples_per_problem(trained):
    problems = [PROBLEM, CountdownProblem("p1", (2, 3, 4), 20)]
    prompts = ["nums: 4 9 3 target: 24\n", "nums: 2 3 4 target: 20\n"]
    config = EvalConfig(samples=3, max_new_tokens=24, batch_size=4, threads=1)
    first = evaluate(trained.directory, problems, prompts, config, seed=0, progress=False)
    assert first == evaluate(trained.directory, problems, prompts, config, seed=0, progress=False)
    dynamic = EvalConfig(samples=3, max_new_tokens=24, batch_size=4, threads=1, cache="dynamic")
    assert first == evaluate(trained.directory, problems, prompts, dynamic, seed=0, progress=False)  # same tokens
    with pytest.raises(ValueError, match="cache"):
        EvalConfig(cache="static")
    other = evaluate(trained.directory, problems, prompts, config, seed=1, progress=False)
    assert [r["greedy"] for r in other] == [r["greedy"] for r in first]  # greedy: no randomness
    assert [r["samples"] for r in other] != [r["samples"] for r in first]
    assert [r["problem_id"] for r in first] == ["p0", "p1"]
    for result in first:
        made = result["samples"]
        assert not any(s["correct"] for s in made[:-1]) and (len(made) == 3 or made[-1]["correct"])
        for made in [result["greedy"], *result["samples"]]:
            assert set(made) == {"text", "tokens", "stopped", "answer", "correct", "valid", "steps", "invalid_reason"}
            assert 1 <= made["tokens"] <= 24 and made["valid"] is (made["invalid_reason"] is None)


def test_sampling_stops_at_a_problems_first_right_sample_or_past_the_budget(trained, monkeypatch):
    import metacot.learn.evaluate as evaluation

    calls = iter(range(100))

    def fake(model, tokenizer, prompts, sample, config):  # every second sampled completion is right
        return [("<think>\n" + SOLVED + ANSWER if sample and next(calls) % 2 else "no", 5, None) for _ in prompts]

    monkeypatch.setattr(evaluation, "generate", fake)
    config = EvalConfig(samples=4, max_new_tokens=24, batch_size=1, threads=1)
    problems = [PROBLEM, PROBLEM.__class__("p1", PROBLEM.numbers, PROBLEM.target)]
    results = evaluate(trained.directory, problems, ["nums: 4 9 3 target: 24\n"] * 2, config, seed=0, progress=False)
    # round 1: p0 wrong, p1 right; round 2: p0 wrong; round 3: p0 right; no fourth round
    assert [[s["correct"] for s in r["samples"]] for r in results] == [[False, False, True], [True]]
    calls = iter(range(100))
    spent = evaluate(trained.directory, problems, ["nums: 4 9 3 target: 24\n"] * 2, config, 0, False, budget=9)
    assert [[s["correct"] for s in r["samples"]] for r in spent] == [[False, False], [True]]  # 5 + 5 tokens > 9


def test_correct_is_metacot_verifier():
    right = attempt(PROBLEM, "<think>\n" + SOLVED + ANSWER, 10, None)
    assert right["answer"] == "4 * (9 - 3)" and right["correct"] and right["valid"] and right["steps"] == 2
    wrong = attempt(PROBLEM, "<think>\n</think>\n<answer> 4 * 9 - 3 </answer>", 5, None)
    assert wrong["answer"] == "4 * 9 - 3" and not wrong["correct"] and wrong["valid"]
    assert attempt(PROBLEM, "<think>\n9 - 3 = 6.", 7, "length")["answer"] is None


METACOT = (
    "9 + 3 = 12. Now I have [4, 12].\n"
    "4 * 12 = 48. 48 is not 24.\n"
    "Going back to [4, 12].\n"
    "None of the steps I tried from [4, 12] reach 24. Let me go back to [4, 9, 3] and try something else.\n"
    "9 * 3 = 28. Wait, that's wrong: 9 * 3 is 27, not 28.\n"
    "Going back to [4, 9, 3].\n" + SOLVED
)
SOS = """Current State: 24:[4, 9, 3], Operations: []
Exploring Operation: 9+3=12, Resulting Numbers: [4, 12]
Generated Node #0,0: 24:[4, 12] Operation: 9+3=12
Exploring Operation: 9-3=6, Resulting Numbers: [4, 6]
Generated Node #0,1: 24:[4, 6] Operation: 9-3=6
Moving to Node #0,0
Current State: 24:[4, 12], Operations: ['9+3=12']
Exploring Operation: 4*12=48, Resulting Numbers: [48]
48,24 unequal: No Solution
Moving to Node #0,1
Current State: 24:[4, 6], Operations: ['9-3=6']
Exploring Operation: 4*6=24, Resulting Numbers: [24]
24,24 equal: Goal Reached"""
TRIED = SOLVED.replace("\n", "\nFrom [4, 6]: 4 + 6 = 10 (10 is not 24); 6 - 4 = 3 (wrong: 6 - 4 is 2, not 3).\n", 1)
PAPER = """9 + 3 = 12. Now I have [4, 12].
Value: 0.40
Alternatively, 9 - 3 = 6. Now I have [4, 6].
Value: 0.90
4 * 6 = 24. 24 = 24, the target.
Final Answer: 4 * (9 - 3)
Solution:
9 - 3 = 6
4 * 6 = 24"""


@pytest.mark.parametrize(
    ("body", "reason", "steps"),
    [
        (METACOT, None, 5),
        (SOLVED, None, 2),  # cot: the solution path alone
        (SOS, None, 4),
        (PAPER, None, 3),
        ("", None, 0),  # empty: the answer alone
        (SOLVED.replace("9 - 3 = 6.", "9 - 3 = 5."), "9 - 3 is 6, not 5", 2),
        (SOLVED.replace("9 - 3 = 6.", "9 - 7 = 2."), "'9 - 7 = 2': 7 is not available in [4, 9, 3]", 2),
        (SOLVED.replace("[4, 6]", "[3, 6]"), "'9 - 3 = 6' leaves [4, 6], not [3, 6]", 2),
        (METACOT.replace("Going back to [4, 9, 3]", "Going back to [4, 7]"), "names [4, 7], a state the text", 5),
        (METACOT.replace("not 28.", "not 29."), "'9 * 3 = 28' is wrong because 9 * 3 is 27, not 28", 5),
        (SOLVED.replace("24 = 24, the target", "24 is not 24"), "the verdict '24 is not 24.' is false", 2),
        ("Going back to [4, 9, 3].\n" + SOLVED, "goes back without a reason after a step that did not fail", 2),
        (SOS.replace("Moving to Node #0,1", "Moving to Node #0,2"), "moves to node #0,2, which the log never", 4),
        (SOS.replace("Resulting Numbers: [4, 6]", "Resulting Numbers: [4, 5]"), "'9-3=6' leaves [4, 6], not [4, 5]", 4),
        (PAPER.replace("Solution:\n9 - 3 = 6\n4", "Solution:\n9 - 3 = 6\n5"), "Solution: '5 * 6 = 24': 5 is not", 3),
        (SOLVED + "\nLet me think.", "a line no trace format writes: 'Let me think.'", 2),
        (TRIED, None, 4),  # an attempts line: its steps count
        (TRIED.replace("(wrong: 6 - 4 is 2, not 3)", "(3 is not 24)"), "'6 - 4 = 3' is wrong because 6 - 4 is 2", 4),
        (TRIED.replace("10 is not 24", "11 is not 24"), "the attempt did not fail as it says", 4),
    ],
)
def test_validity_of_hand_written_traces(body, reason, steps):
    validity = check_trace(PROBLEM, f"<think>\n{body}{ANSWER}")
    assert validity.valid is (reason is None) and validity.steps == steps
    assert (reason or "") in (validity.reason or ""), validity.reason


def test_validity_of_cut_and_empty_think_layouts():
    assert check_trace(PROBLEM, "<think></think>\n<answer> 4 * (9 - 3) </answer>").valid
    cut = check_trace(PROBLEM, "<think>\n9 - 3 = 6. Now I have [4, 6].\n4 * 6")
    assert not cut.valid and cut.reason is not None and cut.reason.startswith("a line no trace format writes")
    whole_lines = check_trace(PROBLEM, "<think>\n9 - 3 = 6. Now I have [4, 6].")
    assert whole_lines.reason == "not <think> ... </think> then <answer> ... </answer>" and whole_lines.steps == 1


def test_a_growing_cache_layer_holds_what_concatenation_would():
    from metacot.backends.pool import GrowingLayer

    layer, chunks = GrowingLayer(), [torch.randn(2, 3, n, 4) for n in (5, 1, 300, 1, 1)]  # 306 outgrows 256
    for chunk in chunks:
        keys, values = layer.update(chunk, chunk + 1)
    assert torch.equal(keys, torch.cat(chunks, -2)) and torch.equal(values, torch.cat(chunks, -2) + 1)
    assert layer.get_seq_length() == 308
