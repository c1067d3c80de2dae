"""A resume keeps the trace records of trees it already linearized and linearizes only the new ones."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest
from conftest import stops_after

import metacot.assemble as assemble_module
import metacot.outputs.traces as traces_module
from metacot.config import SynthConfig, from_dict
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.search import Runner
from metacot.stop import Interrupted
from metacot.synth import relinearize, synth


def config(out, num_problems: int) -> SynthConfig:
    """The default demo, with fewer simulations so that some problems stay unsolved."""
    data = {"out": str(out), "problems": {"num_problems": num_problems}, "search": {"mcts": {"simulations": 60}}}
    return from_dict(SynthConfig, data, "test")


def counting(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = traces_module.linearize_tree

    def linearize(tree, *args):
        seen.append(tree.problem_id)
        return real(tree, *args)

    monkeypatch.setattr(traces_module, "linearize_tree", linearize)
    return seen


def test_a_rerun_linearizes_nothing_and_keeps_traces_and_stats(tmp_path, monkeypatch):
    first = synth(config(tmp_path, 6), progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "traces").glob("*.jsonl")}
    seen = counting(monkeypatch)
    again = synth(config(tmp_path, 6), progress=False)
    assert seen == []
    assert {p.name: p.read_bytes() for p in (tmp_path / "traces").glob("*.jsonl")} == before
    assert {k: v for k, v in again.stats.items() if k != "wall_seconds"} == {
        k: v for k, v in first.stats.items() if k != "wall_seconds"
    }


def test_untrusted_traces_are_rebuilt(tmp_path, monkeypatch):
    synth(config(tmp_path, 4), progress=False)
    (tmp_path / "traces" / "cot.jsonl").write_bytes(b"")  # changed since its writer closed
    seen = counting(monkeypatch)
    synth(config(tmp_path, 4), progress=False)
    solved = orjson.loads((tmp_path / "stats.json").read_bytes())["solved"]
    assert len(seen) == solved > 0  # every solved tree linearized again (unsolved ones write no record)
    assert (tmp_path / "traces" / "cot.jsonl").read_bytes()


def test_trees_written_after_the_traces_are_added_once(tmp_path, monkeypatch):
    synth(config(tmp_path, 4), progress=False)
    state = orjson.loads((tmp_path / "traces" / ".state.json").read_bytes())
    shard = tmp_path / "trees" / "trees-00000.jsonl"
    lines = shard.read_bytes().splitlines(keepends=True)
    state["shards"][shard.name] = len(lines[0]) + len(lines[1])  # as if a crash came after two trees
    state["trees"]["problems"] = 2  # what the state then counts (outputs.traces.Written.check)
    cot = tmp_path / "traces" / "cot.jsonl"
    records = cot.read_bytes().splitlines(keepends=True)
    kept = [r for r in records if orjson.loads(r)["problem_id"] in {orjson.loads(x)["problem_id"] for x in lines[:2]}]
    cot.write_bytes(b"".join(kept))
    state["sizes"] = {fmt: (tmp_path / "traces" / f"{fmt}.jsonl").stat().st_size for fmt in state["sizes"]}
    (tmp_path / "traces" / ".state.json").write_bytes(orjson.dumps(state))
    seen = counting(monkeypatch)
    synth(config(tmp_path, 4), progress=False)
    assert sorted(seen) == sorted(orjson.loads(x)["problem_id"] for x in lines[2:])
    ids = [orjson.loads(r)["problem_id"] for r in cot.read_bytes().splitlines()]
    assert sorted(ids) == sorted(orjson.loads(r)["problem_id"] for r in records)
    relinearize(tmp_path, config(tmp_path, 4).linearize)
    assert sorted(cot.read_bytes().splitlines(keepends=True)) == sorted(records)


class FailsFor(SymbolicCountdownPolicy):
    """Fails every call for the poisoned problems (a backend error: their searches are recorded as failed)."""

    def __init__(self, poisoned: set[str]):
        super().__init__()
        self.poisoned = poisoned

    def propose(self, requests):
        if any(r.problem.id in self.poisoned for r in requests):
            raise ConnectionError("server said 503")
        return super().propose(requests)


def failing_for(monkeypatch, poisoned: set[str]) -> None:
    monkeypatch.setattr(assemble_module, "make_policy", lambda config, domain: FailsFor(poisoned))


def unsolved_too(out, num_problems: int) -> SynthConfig:
    """Serial (a failing call fails only its own search), and unsolved searches written too, so that the failed
    searches have trace records."""
    table = {"out": str(out), "concurrency": 1, "problems": {"num_problems": num_problems}}
    return from_dict(SynthConfig, {**table, "linearize": {"include_unsolved": True}}, "test")


def trace_files(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "traces").glob("*.jsonl"))}


def test_failed_searches_come_last_as_a_rebuild_writes_them(tmp_path, monkeypatch):
    failing_for(monkeypatch, {"countdown-000001", "countdown-000003"})
    result = synth(unsolved_too(tmp_path, 6), progress=False)
    assert result.stats["failed"] == 2
    ids = [orjson.loads(r)["problem_id"] for r in (tmp_path / "traces" / "metacot.jsonl").read_bytes().splitlines()]
    assert ids[-2:] == ["countdown-000001", "countdown-000003"]
    written = trace_files(tmp_path)
    relinearize(tmp_path, unsolved_too(tmp_path, 6).linearize)
    assert trace_files(tmp_path) == written


def test_a_retried_failed_search_linearizes_only_its_new_tree(tmp_path, monkeypatch):
    failing_for(monkeypatch, {"countdown-000001", "countdown-000003"})
    synth(unsolved_too(tmp_path, 6), progress=False)
    monkeypatch.undo()
    seen = counting(monkeypatch)
    result = synth(unsolved_too(tmp_path, 6), progress=False)
    assert (result.searched, result.retried, result.stats["failed"]) == (2, 2, 0)
    assert seen == ["countdown-000001", "countdown-000003"]  # not a rebuild of every tree
    written = trace_files(tmp_path)
    ids = [orjson.loads(r)["problem_id"] for r in written["metacot.jsonl"].splitlines()]
    assert sorted(ids) == [f"countdown-{i:06d}" for i in range(6)] and len(ids) == 6
    relinearize(tmp_path, unsolved_too(tmp_path, 6).linearize)
    assert trace_files(tmp_path) == written


def test_a_stopped_run_resumes_without_linearizing_its_trees_again(tmp_path, monkeypatch):
    uninterrupted = tmp_path / "uninterrupted"
    synth(config(uninterrupted, 250), progress=False)
    monkeypatch.setattr(Runner, "run", stops_after(230))
    with pytest.raises(Interrupted) as stop:
        synth(config(tmp_path / "run", 250), progress=False)
    assert stop.value.done == "230 of 250 problems done"
    monkeypatch.undo()
    seen = counting(monkeypatch)
    result = synth(config(tmp_path / "run", 250), progress=False)
    assert seen == [f"countdown-{i:06d}" for i in range(230, 250)] and result.searched == 20
    assert trace_files(tmp_path / "run") == trace_files(uninterrupted)


def test_a_killed_writer_linearizes_again_only_what_came_after_its_last_state(tmp_path, monkeypatch):
    synth(config(tmp_path, 250), progress=False)
    written = trace_files(tmp_path)
    state = orjson.loads((tmp_path / "traces" / ".state.json").read_bytes())
    shard = tmp_path / "trees" / "trees-00000.jsonl"
    lines = shard.read_bytes().splitlines(keepends=True)
    state["shards"][shard.name] = sum(map(len, lines[:200]))  # as saved after 200 trees, then killed
    state["trees"]["problems"] = 200
    saved = {orjson.loads(line)["problem_id"] for line in lines[:200]}
    for fmt in state["sizes"]:
        records = (tmp_path / "traces" / f"{fmt}.jsonl").read_bytes().splitlines(keepends=True)
        state["sizes"][fmt] = sum(len(r) for r in records if orjson.loads(r)["problem_id"] in saved)
    (tmp_path / "traces" / ".state.json").write_bytes(orjson.dumps(state))
    seen = counting(monkeypatch)
    synth(config(tmp_path, 250), progress=False)
    after = [orjson.loads(line) for line in lines[200:]]
    assert seen == [r["problem_id"] for r in after if r["solved"]]  # unsolved trees: counted, not built
    assert len(seen) < 50
    assert trace_files(tmp_path) == written


def test_a_synth_that_rewrites_traces_made_with_other_settings_says_so_in_one_line(tmp_path):
    command = [sys.executable, "-c", "import sys; from metacot.cli import main; sys.exit(main(sys.argv[1:]))"]
    args = ["synth", "--out", str(tmp_path), "--no-progress", "--num-problems", "4", "--formats", "metacot,cot"]

    def metacot(*more: str) -> str:
        done = subprocess.run([*command, *more], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert metacot(*args) == ""
    made = trace_files(tmp_path)
    metacot("linearize", str(tmp_path), "--formats", "metacot,tokens", "--value-lines")  # customised by hand
    custom = trace_files(tmp_path)["tokens.jsonl"]
    (note,) = metacot(*args).splitlines()
    assert note.startswith(f"{tmp_path / 'traces'}: rewrote the trace files with this synth's linearize settings")
    assert "(formats, value_lines)" in note and "metacot linearize" in note
    assert note.endswith("left as they were, without new trees: tokens.jsonl")
    assert trace_files(tmp_path) == {**made, "tokens.jsonl": custom}  # the run's own traces back, tokens untouched
    assert metacot(*args) == ""  # written with these settings now: nothing to say
