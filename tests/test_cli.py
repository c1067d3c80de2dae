"""End to end through the `metacot` command: synth, determinism, resume after kill -9, linearize, show, bench."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from metacot.cli import main
from metacot.problems.countdown import CountdownProblem, verify_answer

FORMATS = ("metacot", "tokens", "cot", "sos")


def synth(out: Path, *flags: str) -> int:
    return main(["synth", "--out", str(out), "--no-progress", *flags])


def read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def all_trees(run: Path) -> list[dict]:
    return [t for shard in sorted((run / "trees").glob("*.jsonl")) for t in read_jsonl(shard)]


def without_wall_time(trees: list[dict]) -> list[dict]:
    for tree in trees:
        tree["compute"]["wall_time"] = 0.0
    return trees


@pytest.mark.parametrize("search", ["mcts", "astar"])
def test_synth_writes_a_run_directory_with_verified_traces(tmp_path, search):
    out = tmp_path / "run"
    assert synth(out, "--num-problems", "40", "--search", search) == 0
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["config"]["search"]["strategy"] == search and manifest["config_hash"]
    trees = all_trees(out)
    assert [t["problem_id"] for t in trees] == [f"countdown-{i:06d}" for i in range(40)]
    stats = orjson.loads((out / "stats.json").read_bytes())
    assert stats["problems"] == 40 and stats["solved"] == sum(t["solved"] for t in trees)
    for fmt in FORMATS:
        records = read_jsonl(out / "traces" / f"{fmt}.jsonl")
        assert len(records) == stats["formats"][fmt]["records"] > 0
        for record in records:
            assert record["correct"]
            answer = record["completion"].split("<answer>")[1].split("</answer>")[0]
            problem = CountdownProblem(**_problem(trees, record["problem_id"]))
            assert verify_answer(problem, answer), (record["problem_id"], answer)
    assert stats["formats"]["metacot"]["with_backtracks"] > 0


def _problem(trees: list[dict], problem_id: str) -> dict:
    problem = next(t["problem"] for t in trees if t["problem_id"] == problem_id)
    return {"id": problem["id"], "numbers": tuple(problem["numbers"]), "target": problem["target"]}


def test_same_seed_gives_identical_files_whatever_the_concurrency(tmp_path):
    outputs = []
    for concurrency in ("1", "5", "64"):
        out = tmp_path / f"c{concurrency}"
        assert synth(out, "--num-problems", "30", "--concurrency", concurrency) == 0
        outputs.append(
            (without_wall_time(all_trees(out)), [(out / "traces" / f"{f}.jsonl").read_bytes() for f in FORMATS])
        )
    assert outputs[0] == outputs[1] == outputs[2]
    other = tmp_path / "other-seed"
    assert synth(other, "--num-problems", "30", "--seed", "1") == 0
    assert without_wall_time(all_trees(other)) != outputs[0][0]


def test_resume_after_kill_9_keeps_every_problem_exactly_once(tmp_path):
    out = tmp_path / "run"
    args = ["synth", "--out", str(out), "--no-progress", "--num-problems", "3000", "--concurrency", "8"]
    command = [sys.executable, "-c", "import sys; from metacot.cli import main; sys.exit(main(sys.argv[1:]))", *args]
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 60
    shard = out / "trees" / "trees-00000.jsonl"
    while time.monotonic() < deadline and (not shard.exists() or shard.stat().st_size < 200_000):
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = len(shard.read_bytes().splitlines())
    assert 0 < partial < 3000, "the kill should land in the middle of the run"
    assert main(args) == 0
    ids = [t["problem_id"] for t in all_trees(out)]
    assert ids == [f"countdown-{i:06d}" for i in range(3000)]
    traces = read_jsonl(out / "traces" / "cot.jsonl")
    assert len({r["problem_id"] for r in traces}) == len(traces)


def test_resume_refuses_a_different_config(tmp_path, capsys):
    out = tmp_path / "run"
    assert synth(out, "--num-problems", "5") == 0
    assert synth(out, "--num-problems", "5", "--simulations", "3") == 2
    assert "search.mcts.simulations" in capsys.readouterr().err


def test_linearize_rewrites_traces_without_searching(tmp_path):
    out = tmp_path / "run"
    assert synth(out, "--num-problems", "20", "--simulations", "15", "--formats", "cot") == 0  # some unsolved
    trees_before = (out / "trees" / "trees-00000.jsonl").read_bytes()
    assert not (out / "traces" / "tokens.jsonl").exists()
    assert main(["linearize", str(out), "--formats", "tokens,metacot", "--include-unsolved", "--value-lines"]) == 0
    assert (out / "trees" / "trees-00000.jsonl").read_bytes() == trees_before
    tokens = read_jsonl(out / "traces" / "tokens.jsonl")
    assert len(tokens) == 20 and any(not r["correct"] for r in tokens)
    assert any("\nValue: " in r["completion"] for r in read_jsonl(out / "traces" / "metacot.jsonl"))


def test_show_prints_the_tree_and_trace(tmp_path, capsys):
    out = tmp_path / "run"
    assert synth(out, "--num-problems", "3") == 0
    capsys.readouterr()
    assert main(["show", str(out), "--problem", "countdown-000001", "--format", "tokens"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("countdown-000001") and "trace: 0" in text and "--- tokens ---" in text
    assert main(["show", str(out), "--problem", "nope"]) == 2


def test_config_file_and_bad_inputs_get_clear_errors(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('seed = 3\n[search]\nstrategy = "astar"\n[search.astar.budget]\nnodes = 30\n')
    out = tmp_path / "run"
    assert synth(out, "--config", str(config), "--num-problems", "4") == 0
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["config"]["seed"] == 3 and manifest["config"]["search"]["astar"]["budget"]["nodes"] == 30
    assert all(len(t["nodes"]) - t["compute"].get("repairs", 0) <= 30 for t in all_trees(out))  # a node budget

    config.write_text("[search.mcts]\nsimulatons = 3\n")
    assert synth(tmp_path / "x", "--config", str(config)) == 2
    assert "search.mcts.simulatons: unknown key" in capsys.readouterr().err
    problems = tmp_path / "problems.jsonl"
    problems.write_text('{"numbers": [1, 2, 3], "target": 6}\n{"numbers": "oops", "target": 5}\n')
    assert synth(tmp_path / "y", "--problems", str(problems)) == 2
    assert "problems.jsonl:2" in capsys.readouterr().err
    assert synth(tmp_path / "z", "--formats", "metacot,nope") == 2
    assert "nope" in capsys.readouterr().err


def test_bench_engine_prints_json_per_strategy(capsys):
    assert main(["bench", "engine", "--num-problems", "20", "--concurrency", "8", "--json"]) == 0
    results = orjson.loads(capsys.readouterr().out)
    assert set(results) == {"mcts", "astar"}
    for figures in results.values():
        assert figures["nodes_per_second"] > 0 and 1 < figures["mean_batch_size"] <= 8
        assert figures["search_nodes_per_second"] > figures["nodes_per_second"]  # the runner's share of the run


@pytest.mark.parametrize("source", ["empty.jsonl", "/dev/null"])
def test_a_problems_file_with_no_problems_is_one_line_exit_2_and_no_run(source, tmp_path, capsys):
    path = Path(source) if source.startswith("/") else tmp_path / source
    if not path.exists():
        path.write_text("")
    assert main(["synth", "--problems", str(path), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert capsys.readouterr().err == f"metacot: error: {path}: no problems in it\n"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flag", ["--repeat", "--num-problems", "--concurrency"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_bench_engine_refuses_a_count_below_one_in_one_line(flag, value, capsys):
    assert main(["bench", "engine", flag, value]) == 2
    err = capsys.readouterr().err
    assert err == f"metacot: error: {flag}: must be an integer of at least 1, got {value}\n"


def test_resume_ignores_sections_of_strategies_not_used(tmp_path, capsys):
    out = tmp_path / "run"
    config = tmp_path / "run.toml"
    config.write_text("[search.astar]\nstep_cost = 0.5\n")
    assert synth(out, "--num-problems", "3") == 0
    assert synth(out, "--num-problems", "3", "--config", str(config)) == 0  # MCTS runs: A*'s section is unused
    assert synth(out, "--num-problems", "3", "--search", "astar") == 2
    assert "search.strategy" in capsys.readouterr().err


def test_bench_backends_reports_batching_and_overhead(capsys):
    assert main(["bench", "backends", "--num-problems", "40", "--concurrency", "16", "--json"]) == 0
    figures = orjson.loads(capsys.readouterr().out)
    assert figures["searches"] == 40 and figures["policy_calls"] > 0
    assert 1 < figures["mean_prompts_per_call"] <= figures["mean_searches_in_flight"] <= 16
    assert 0 < figures["backend_share"] <= 1 and figures["run_to_direct_ratio"] > 0
