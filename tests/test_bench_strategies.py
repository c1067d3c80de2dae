"""`metacot bench strategies`: consistent files, resume without duplicates, refusing other settings."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import orjson
import pytest

from metacot.bench.plots import BUDGET_PLOT, NOISE_PLOT
from metacot.bench.settings import BenchError, BenchSettings, StrategySpec
from metacot.bench.strategies import MANIFEST, RESULTS, TABLE, bench_strategies, strategy_config
from metacot.bench.tables import first_budget_reaching, perfect_oracle, wilson
from metacot.cli import main
from metacot.search import Budget

STRATEGIES = ["mcts", "astar", "beam", "best_of_n", "bfs", "dfs:heuristic=prm"]


def settings(out: Path, **changes) -> BenchSettings:
    base = BenchSettings(
        out=str(out), num_problems=10, strategies=STRATEGIES, budgets=[15, 60], noise=[0.0, 0.3], concurrency=8
    )
    return dataclasses.replace(base, **changes)


def read_rows(out: Path) -> list[dict]:
    return [orjson.loads(line) for line in (out / RESULTS).read_bytes().splitlines()]


def key(row: dict) -> tuple:
    return row["problem_id"], row["strategy"], row["budget"], row["noise"]


def table_rows(out: Path) -> dict[tuple, list[str]]:
    """The "All results" table of table.md, keyed by (strategy, budget, noise)."""
    text = (out / TABLE).read_text()
    section = text.split("## All results")[1]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 15 and re.fullmatch(r"\d+", cells[1]):
            rows[cells[0], int(cells[1]), float(cells[2])] = cells
    return rows


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "results"
    result = bench_strategies(settings(out), progress=False)
    assert result.searched == 10 * len(STRATEGIES) * 2 * 2
    return out


def test_bench_writes_one_row_per_problem_strategy_budget_and_noise(bench_dir):
    rows = read_rows(bench_dir)
    assert len(rows) == 10 * 6 * 2 * 2 == len({key(r) for r in rows})
    assert {r["strategy"] for r in rows} == set(STRATEGIES)
    for row in rows:
        searched = row["nodes"] - row.get("repairs", 0)  # the domain's corrections of slips spend no budget
        assert row["within_budget"] and searched <= row["budget"] and row["unit"] == "nodes"
        assert isinstance(row["solved"], bool) and row["ms"] > 0 and row["wall_time"] > 0
        assert (row["answer_correct"] is None) == (row["strategy"] != "best_of_n")
    manifest = orjson.loads((bench_dir / MANIFEST).read_bytes())
    assert manifest["settings"]["unit"] == "nodes" and manifest["grid"]["budgets"] == [15, 60]


def test_table_agrees_with_results_jsonl(bench_dir):
    rows = read_rows(bench_dir)
    table = table_rows(bench_dir)
    cells = {(r["strategy"], r["budget"], r["noise"]) for r in rows}
    assert set(table) == cells
    for cell, line in table.items():
        group = [r for r in rows if (r["strategy"], r["budget"], r["noise"]) == cell]
        solved = sum(r["solved"] for r in group)
        low, high = wilson(solved, len(group))
        assert int(line[3]) == len(group) and int(line[4]) == solved
        assert line[5] == f"{100 * solved / len(group):.1f}"
        assert line[6] == f"{100 * low:.1f}–{100 * high:.1f}"
        assert float(line[8]) == pytest.approx(sum(r["nodes"] for r in group) / len(group), abs=0.05)
        assert float(line[9]) == pytest.approx(sum(r["policy_calls"] for r in group) / len(group), abs=0.05)
        assert float(line[11]) == pytest.approx(sum(r["prm_calls"] for r in group) / len(group), abs=0.05)
        assert line[13] == "yes"
        if cell[0] == "best_of_n":
            accuracy = sum(r["answer_correct"] for r in group) / len(group)
            assert line[7] == f"{100 * accuracy:.1f}"
    # the pivot at noise 0 repeats the solve rates
    text = (bench_dir / TABLE).read_text()
    pivot = text.split("PRM flip probability 0\n")[1].split("##")[0]
    mcts = next(line for line in pivot.splitlines() if line.startswith("| mcts |"))
    assert mcts.split("|")[2].strip() == table["mcts", 15, 0.0][5]


def test_bench_draws_the_plots(bench_dir):
    pytest.importorskip("matplotlib")
    for name in (BUDGET_PLOT, NOISE_PLOT):
        data = (bench_dir / name).read_bytes()
        assert data.startswith(b"\x89PNG") and 5_000 < len(data) < 200_000


def test_with_a_perfect_oracle_astar_and_mcts_solve_at_least_as_many_as_bfs(bench_dir):
    rows = read_rows(bench_dir)

    def solved(strategy: str, budget: int) -> int:
        return sum(r["solved"] for r in rows if r["strategy"] == strategy and r["budget"] == budget and not r["noise"])

    for budget in (15, 60):
        assert solved("astar", budget) >= solved("bfs", budget)
        assert solved("mcts", budget) >= solved("bfs", budget)
    assert solved("astar", 60) > solved("bfs", 60)


def test_resume_adds_only_missing_rows(tmp_path):
    out = tmp_path / "run"
    small = settings(out, strategies=["astar", "best_of_n"], budgets=[15], noise=[0.0])
    assert bench_strategies(small, progress=False).searched == 20
    before = (out / RESULTS).read_bytes()
    again = bench_strategies(small, progress=False)
    assert again.searched == 0 and (out / RESULTS).read_bytes() == before
    # a crash mid-write leaves a partial last line: it is dropped and redone
    lines = before.splitlines(keepends=True)
    (out / RESULTS).write_bytes(b"".join(lines[:-1]) + lines[-1][:25])
    assert bench_strategies(small, progress=False).searched == 1
    redone = read_rows(out)
    assert len(redone) == 20 == len({key(r) for r in redone})
    original = orjson.loads(lines[-1])
    assert {**redone[-1], "ms": 0, "wall_time": 0} == {**original, "ms": 0, "wall_time": 0}
    # a larger grid: only the new cells are searched, nothing is duplicated
    larger = dataclasses.replace(small, budgets=[15, 40], noise=[0.0, 0.2])
    assert bench_strategies(larger, progress=False).searched == 60
    rows = read_rows(out)
    assert len(rows) == 80 == len({key(r) for r in rows})
    assert len(table_rows(out)) == 8


def test_resume_refuses_other_settings(tmp_path):
    out = tmp_path / "run"
    small = settings(out, strategies=["dfs"], budgets=[15], noise=[0.0])
    bench_strategies(small, progress=False)
    with pytest.raises(BenchError, match="mistake_rate"):
        bench_strategies(dataclasses.replace(small, mistake_rate=0.3), progress=False)
    with pytest.raises(BenchError, match="unit"):
        bench_strategies(dataclasses.replace(small, unit="policy_calls"), progress=False)


def test_same_settings_give_the_same_rows(tmp_path):
    def rows(out):
        return [{k: v for k, v in r.items() if k not in ("ms", "wall_time")} for r in read_rows(out)]

    small = dict(strategies=["mcts", "beam"], budgets=[30], noise=[0.2])
    bench_strategies(settings(tmp_path / "a", **small), progress=False)
    bench_strategies(settings(tmp_path / "b", concurrency=1, **small), progress=False)
    assert rows(tmp_path / "a") == rows(tmp_path / "b")


def test_other_units_and_strategy_overrides(tmp_path):
    out = tmp_path / "calls"
    s = settings(out, unit="policy_calls", budgets=[3, 8], noise=[0.1], strategies=["astar", "best_of_n:n=3"])
    bench_strategies(s, progress=False)
    rows = read_rows(out)
    assert all(r["policy_calls"] <= r["budget"] and r["within_budget"] for r in rows)
    assert max(r["policy_calls"] for r in rows if r["strategy"] == "astar" and r["budget"] == 3) == 3
    # three chains of three steps, and the corrections of the slips the domain found in them
    assert all(r["nodes"] - r.get("repairs", 0) <= 1 + 3 * 3 for r in rows if r["strategy"] == "best_of_n:n=3")


def test_strategy_configs_are_sized_to_the_budget():
    s = BenchSettings()
    config = strategy_config(StrategySpec.parse("best_of_n"), "nodes", 50, s)
    assert config.n == 16 and config.budget == Budget.of("nodes", 50, max_step_tokens=5)  # 1 + 16 * 3 <= 50
    config = strategy_config(StrategySpec.parse("beam"), "nodes", 100, s)
    assert config.beam_width == config.expand_width == 6  # 1 + 6 + 6 * 6 * 2 = 79 <= 100 < 106
    config = strategy_config(StrategySpec.parse("beam"), "nodes", 100, dataclasses.replace(s, expand_width=10))
    assert config.expand_width == 10 and config.beam_width == 4  # 1 + 10 + 4 * 10 * 2 = 91
    config = strategy_config(StrategySpec.parse("astar:step_cost=0"), "nodes", 100, s)
    assert config.budget == Budget.of("nodes", 100, max_step_tokens=5) and config.step_cost == 0.0  # A*'s 200 cleared
    assert strategy_config(StrategySpec.parse("mcts"), "nodes", 100, dataclasses.replace(s, fit=False)).simulations
    with pytest.raises(BenchError, match="unknown strategy"):
        StrategySpec.parse("dijkstra")
    with pytest.raises(BenchError, match="nope"):
        StrategySpec.parse("dfs:nope=1")
    with pytest.raises(BenchError, match="expected int"):
        StrategySpec.parse("dfs:expand_width=wide")


def test_wilson_interval():
    low, high = wilson(0, 10)
    assert low == 0.0 and 0.27 < high < 0.28
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson(7, 7)[1] == 1.0 and wilson(7, 7)[0] > 0.6
    assert wilson(0, 0) == (0.0, 1.0)


def test_cli_bench_strategies(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["bench", "strategies", "--out", str(out), "--num-problems", "5", "--strategies", "astar,bfs"]
    args += ["--budgets", "20,40", "--noise", "0,0.1", "--target", "24", "--low", "1", "--high", "13", "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| astar |" in printed and "40 rows (40 new" in printed
    assert "Game of 24" in (out / TABLE).read_text()
    assert main(args) == 0 and "(0 new" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit:  # argparse rejects the value, with the usage line
        main([*args, "--budgets", "x"])
    assert exit.value.code == 2
    assert main(["bench", "strategies", "--out", str(out), "--strategies", "nope", "--no-progress"]) == 2


def test_a_handbook_refused_leaves_no_out_folder(tmp_path, capsys):
    out = tmp_path / "new" / "bench"
    missing = tmp_path / "missing.jsonl"
    args = ["bench", "strategies", "--out", str(out), "--num-problems", "2", "--behaviors", str(missing)]
    assert main([*args, "--no-progress"]) == 2
    assert capsys.readouterr().err == f"metacot: error: {missing}: No such file or directory\n"
    assert not (tmp_path / "new").exists()


def test_the_perfect_oracle_section_gives_the_first_budget_reaching_95_percent():
    entry = {"unit": "nodes", "noise": 0.0}
    summary = [
        {**entry, "strategy": "a", "budget": b, "solve_rate": rate} for b, rate in ((10, 0.5), (20, 0.95), (40, 1.0))
    ] + [{**entry, "strategy": "b", "budget": b, "solve_rate": 0.9} for b in (10, 20, 40)]
    assert first_budget_reaching(summary, "a", 0.95) == 20
    assert first_budget_reaching(summary, "b", 0.95) is None
    lines = perfect_oracle(summary, "nodes")
    assert lines[0].startswith("## Perfect oracle")
    assert "| a | 50.0 | 95.0 | 100.0 | 20 |" in lines
    assert "| b | 90.0 | 90.0 | 90.0 | not in the grid |" in lines


def test_behaviours_condition_every_strategy_and_count_in_the_settings(tmp_path):
    small = dict(strategies=["best_of_n"], budgets=[60], noise=[0.0], num_problems=20)
    plain = bench_strategies(settings(tmp_path / "plain", **small), progress=False)
    bci = bench_strategies(settings(tmp_path / "bci", behaviors="builtin", **small), progress=False)
    # best-of-N's samples take the retrieved behaviours' moves first: more of them reach the target
    assert sum(r["solved"] for r in bci.rows) > sum(r["solved"] for r in plain.rows)
    assert "(BCI)" in (tmp_path / "bci" / TABLE).read_text()
    assert "behaviors" not in orjson.loads((tmp_path / "plain" / MANIFEST).read_bytes())["settings"]
    with pytest.raises(BenchError, match="behaviors"):
        bench_strategies(settings(tmp_path / "plain", behaviors="builtin", **small), progress=False)
