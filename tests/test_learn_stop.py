"""Stopping a completion caught looping (eval.loop_lines): the rule on whole texts, and per row while generating,
the other rows of the batch going on with the same tokens as without it."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")

from metacot.learn.config import learn_config  # noqa: E402
from metacot.learn.eval_config import EvalConfig  # noqa: E402
from metacot.learn.evaluate import evaluate  # noqa: E402
from metacot.learn.loops import caught, most_stale  # noqa: E402
from metacot.learn.model import ModelConfig, build_model, build_tokenizer  # noqa: E402
from metacot.learn.stats import run_figures  # noqa: E402
from metacot.outputs.manifest import differing_keys  # noqa: E402
from metacot.problems.countdown import CountdownProblem  # noqa: E402

PROBLEM = CountdownProblem("p0", (4, 9, 3), 24)
STEPS = "9 - 3 = 6. Now I have [4, 6].\n4 * 6 = 24. 24 = 24, the target.\n"
TRACE = f"<think>\n{STEPS}</think>\n<answer> 4 * (9 - 3) </answer>"


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """A freshly initialised tiny Llama with tied embeddings: greedy, it repeats the prompt's last token, so a prompt
    ending in a line break loops on empty lines and one ending in a digit writes digits to the end."""
    directory = tmp_path_factory.mktemp("random")
    tokenizer = build_tokenizer(["nums: 4 9 3 target: 24\n" + TRACE], directory)
    config = ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_length=256)
    build_model(config, tokenizer, seed=0).save_pretrained(directory)
    return directory


def test_a_looping_row_stops_while_the_others_go_on_with_the_same_tokens(random_model):
    prompts = ["nums: 4 9 3 target: 24\n", "nums: 4 9 3 target: 24", "nums: 4 9 3 target: 24\n"]
    problems = [PROBLEM] * 3
    on = EvalConfig(samples=0, max_new_tokens=120, batch_size=2, threads=1, loop_lines=8)  # the third row waits
    off = EvalConfig(samples=0, max_new_tokens=120, batch_size=3, threads=1)
    stopped = [r["greedy"] for r in evaluate(random_model, problems, prompts, on, seed=0, progress=False)]
    full = [r["greedy"] for r in evaluate(random_model, problems, prompts, off, seed=0, progress=False)]
    assert [a["stopped"] for a in full] == ["length"] * 3 and [a["tokens"] for a in full] == [120] * 3
    assert full[0]["text"] == "\n" * 120 and "\n" not in full[1]["text"]
    assert [a["stopped"] for a in stopped] == ["loop", "length", "loop"]
    assert stopped[0]["tokens"] == stopped[0]["text"].count("\n") == 7  # 6 of its last 8 lines repeat one before
    assert stopped[1] == full[1]  # the row that goes on: token for token as without the stop
    assert stopped[2] == stopped[0]  # joined the batch when the first left, its cache then padded to the second's
    assert full[0]["text"].startswith(stopped[0]["text"])
    sampled = EvalConfig(samples=2, max_new_tokens=40, batch_size=2, threads=1, loop_lines=8)
    first = evaluate(random_model, problems, prompts, sampled, seed=0, progress=False)
    assert first == evaluate(random_model, problems, prompts, sampled, seed=0, progress=False)  # seeded, pooled
    assert all(s["stopped"] in ("loop", "length", None) and s["tokens"] <= 40 for r in first for s in r["samples"])


def test_rows_that_join_a_pooled_batch_late_read_as_they_would_alone(random_model):
    # longer prompts reach the context's end sooner: rows leave at different tokens; the third prompt joins a batch
    # cached shorter than itself (the first row left after 3 tokens), the fourth one cached longer
    prompts = ["nums: 4 9 3 target: 24\n" + "9 - 3 = 6.\n" * k + "4 * 6 = 2" for k in (20, 0, 15, 1, 0)]
    problems = [PROBLEM] * len(prompts)
    pooled = EvalConfig(samples=0, max_new_tokens=250, batch_size=2, threads=1, loop_lines=1000)  # never caught
    alone = EvalConfig(samples=0, max_new_tokens=250, batch_size=1, threads=1)
    together = [r["greedy"] for r in evaluate(random_model, problems, prompts, pooled, seed=0, progress=False)]
    apart = [r["greedy"] for r in evaluate(random_model, problems, prompts, alone, seed=0, progress=False)]
    assert [a["tokens"] for a in apart] == [3, 223, 58, 212, 223] and together == apart


def test_the_rule_counts_lines_that_repeat_earlier_ones_in_a_window():
    assert most_stale(TRACE, 16) == 0 and most_stale("", 16) == 0
    looping = TRACE.replace("</think>", "4 * 6 = 24.\n9 - 3 = 6.\n" * 4 + "</think>")
    assert most_stale(looping, 16) == 6 and caught(6, 8) and not caught(5, 8)
    assert most_stale("a\na\na\na", 16) == 2  # the last piece is no finished line
    assert caught(12, 16) and not caught(11, 16)


def test_looped_answers_are_a_column_and_old_evaluations_count_none():
    def result(stopped: str | None) -> dict:
        greedy = {"correct": False, "valid": False, "tokens": 9, "stopped": stopped}
        return {"greedy": greedy, "samples": []}

    figures = run_figures([result("loop"), result("length"), result(None), result("loop")], budget=10)
    assert figures["looped"] == 0.5
    old = {"greedy": {"correct": True, "valid": True, "tokens": 9}, "samples": []}  # written before the field
    assert run_figures([old], budget=10)["looped"] == 0.0


def test_the_stop_is_off_by_default_and_a_directory_made_without_it_resumes():
    assert EvalConfig().loop_lines is None and learn_config("smoke").eval.loop_lines == 16
    old = learn_config("gpu").identity()  # a size without the stop
    del old["eval"]["loop_lines"]  # a manifest written before the key existed
    assert differing_keys(old, learn_config("gpu").identity()) == []
    with pytest.raises(ValueError, match="loop_lines"):
        EvalConfig(loop_lines=1)
