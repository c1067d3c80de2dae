"""Benchmarks say what they ran with (torch's threads, CPUs, load average); the backends benchmark's large-vocabulary
model is built locally with the vocabulary asked for."""

from __future__ import annotations

import os

import orjson
import pytest

from metacot.bench.machine import load_average, machine, machine_line
from metacot.cli import main

os.environ["HF_HUB_OFFLINE"] = "1"


def test_the_machine_line_names_threads_cpus_and_load():
    figures = machine([0.5, 1.25, 2.0])
    assert figures["cpus"] == os.cpu_count() and figures["load_average"] == [0.5, 1.25, 2.0]
    assert machine_line({"torch_threads": None, "cpus": 2, "load_average": [0.5, 1.25, 2.0]}) == (
        "ran with torch not loaded, 2 CPUs; load average 0.50 1.25 2.00 (1, 5, 15 min) at the start"
    )
    assert "torch on 3 threads" in machine_line({**figures, "torch_threads": 3})
    assert len(load_average()) == 3


def test_the_engine_benchmark_prints_what_it_ran_with(capsys):
    assert main(["bench", "engine", "--num-problems", "4", "--concurrency", "4", "--repeat", "1"]) == 0
    assert "CPUs; load average" in capsys.readouterr().out.splitlines()[-1]
    assert main(["bench", "engine", "--num-problems", "4", "--concurrency", "4", "--repeat", "1", "--json"]) == 0
    results = orjson.loads(capsys.readouterr().out)
    assert set(results) == {"mcts", "astar"}
    assert all(set(r["machine"]) == {"torch_threads", "cpus", "load_average"} for r in results.values())


def test_the_large_vocabulary_model_has_the_vocabulary_asked_for(tmp_path):
    pytest.importorskip("transformers")
    from transformers import AutoConfig, AutoTokenizer

    from metacot.bench.vocab import build_large_vocab_lm

    folder = build_large_vocab_lm(tmp_path, 700)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert len(tokenizer) == len(tokenizer.get_vocab()) == AutoConfig.from_pretrained(folder).vocab_size == 700
    text = "25 + 3 = 28\n"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.decode([699]).isalpha()


def test_the_backends_benchmark_runs_the_large_vocabulary_policy_on_the_threads_asked_for(capsys):
    torch = pytest.importorskip("torch")
    from tiny_models import single_thread

    flags = [
        "--num-problems",
        "1",
        "--concurrency",
        "1",
        "--simulations",
        "2",
        "--set",
        "policy.transformers.max_tokens=4",
    ]
    with single_thread():
        torch.set_num_threads(2)
        assert main(["bench", "backends", "--large-vocab", "600", "--policy-threads", "1", *flags, "--json"]) == 0
    figures = orjson.loads(capsys.readouterr().out)
    assert figures["policy"] == "transformers" and figures["large_vocab"] == 600
    assert figures["seconds_per_policy_call"] > 0 and figures["machine"]["torch_threads"] == 1


def test_the_memory_benchmark_measures_each_size_and_its_resume_and_says_what_it_ran_with(capsys):
    flags = ["bench", "memory", "--problems", "5,10", "--json", "--", "--max-nodes", "10"]
    assert main(flags) == 0
    figures = orjson.loads(capsys.readouterr().out)
    assert [size["problems"] for size in figures["sizes"]] == [5, 10]
    assert all(size["peak_rss_mb"] > 0 and size["resume_seconds"] > 0 for size in figures["sizes"])
    assert figures["machine"]["cpus"] == os.cpu_count()


def test_the_replicas_benchmark_prints_every_row_and_what_it_ran_with(capsys):
    pytest.importorskip("ray")
    flags = ["--problems", "6", "--simulations", "3", "--sleepy-problems", "4", "--sleepy-simulations", "2"]
    assert main(["bench", "replicas", *flags, "--delay", "0", "--replicas", "1,2", "--chunk", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line.split()[0] for line in out if line.startswith(("local", "ray,"))]
    assert rows == ["local", "ray,", "ray,", "local", "ray,", "ray,"]
    assert "CPUs; load average" in out[-1]
