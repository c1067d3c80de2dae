"""A resume keeps the trace records of trees it already linearized and linearizes only the new ones."""

from __future__ import annotations

import orjson

import metacot.outputs.traces as traces_module
from metacot.config import SynthConfig, from_dict
from metacot.synth import relinearize, synth


def config(out, num_problems: int) -> SynthConfig:
    return from_dict(SynthConfig, {"out": str(out), "problems": {"num_problems": num_problems}}, "test")


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
    assert len(seen) == 4
    assert (tmp_path / "traces" / "cot.jsonl").read_bytes()


def test_trees_written_after_the_traces_are_added_once(tmp_path, monkeypatch):
    synth(config(tmp_path, 4), progress=False)
    state = orjson.loads((tmp_path / "traces" / ".state.json").read_bytes())
    shard = tmp_path / "trees" / "trees-00000.jsonl"
    lines = shard.read_bytes().splitlines(keepends=True)
    state["shards"][shard.name] = len(lines[0]) + len(lines[1])  # as if a crash came after two trees
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
