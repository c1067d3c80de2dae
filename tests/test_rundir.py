"""The run directory: manifest, sharding, round trips, resume, crash repair, refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import metacot.outputs.manifest as manifest_module
import metacot.outputs.rundir as rundir_module
from metacot.outputs import RunDir, RunDirError
from metacot.tree import SearchTree

CONFIG = {"seed": 0, "search": {"strategy": "mcts", "mcts": {"simulations": 64, "c_puct": 1.5}}}
HASH = "abc123"


def make_tree(pid: str, width: int = 2) -> SearchTree:
    tree = SearchTree.with_root(pid, {"numbers": [1, 2], "target": 3}, (1, 2), search="mcts")
    for i in range(width):
        child = tree.add_child(tree.root, f"1 + 2 = 3 ({i})", state=[3], score=0.5, correct=i == 0)
        tree.visit(child)
    return tree


def as_json(tree: SearchTree) -> dict:
    """What to_dict gives after a trip through JSON (tuples become lists)."""
    return orjson.loads(orjson.dumps(tree.to_dict()))


def write_run(path: Path, ids: list[str], shard_size: int = 10_000) -> None:
    with RunDir(path, shard_size=shard_size) as run:
        run.open(CONFIG, HASH, 0)
        for pid in ids:
            run.append(make_tree(pid))


def ids_in(path: Path) -> list[str]:
    return [tree.problem_id for tree in RunDir(path).iter_trees()]


def test_fresh_open_writes_manifest(tmp_path):
    run = RunDir(tmp_path / "run")
    with run:
        assert run.open(CONFIG, HASH, 7) == set()
    manifest = orjson.loads(run.manifest_path.read_bytes())
    assert manifest["config"] == CONFIG
    assert manifest["config_hash"] == HASH
    assert manifest["seed"] == 7
    assert set(manifest["versions"]) == {"metacot", "python", "numpy", "orjson", "networkx"}
    assert manifest["versions"]["orjson"] == orjson.__version__
    assert manifest["started_at"].endswith("+00:00")
    assert manifest["resumed_at"] == []


def test_append_and_iter_round_trip(tmp_path):
    trees = [make_tree("a", width=3), make_tree("b", width=0)]
    trees[0].failed = "budget"
    with RunDir(tmp_path) as run:
        run.open(CONFIG, HASH, 0)
        for tree in trees:
            run.append(tree)
        # readable while open; a failed search comes last (a later retry could supersede it)
        assert [t.to_dict() for t in run.iter_trees()] == [as_json(t) for t in trees[::-1]]


def test_shards_every_shard_size_records_in_order(tmp_path):
    ids = [f"p{i}" for i in range(5)]
    write_run(tmp_path, ids, shard_size=2)
    shards = sorted((tmp_path / "trees").glob("*.jsonl"))
    assert [p.name for p in shards] == ["trees-00000.jsonl", "trees-00001.jsonl", "trees-00002.jsonl"]
    assert [len(p.read_bytes().splitlines()) for p in shards] == [2, 2, 1]
    assert ids_in(tmp_path) == ids


def test_resume_returns_done_ids_and_continues_without_duplicates(tmp_path):
    write_run(tmp_path, ["p0", "p1", "p2"], shard_size=2)
    started = orjson.loads((tmp_path / "manifest.json").read_bytes())["started_at"]
    with RunDir(tmp_path, shard_size=2) as run:
        done = run.open(CONFIG, HASH, 0)
        assert done == {"p0", "p1", "p2"}
        for pid in ["p0", "p1", "p2", "p3", "p4"]:
            if pid not in done:
                run.append(make_tree(pid))
    assert ids_in(tmp_path) == ["p0", "p1", "p2", "p3", "p4"]
    assert [len(p.read_bytes().splitlines()) for p in RunDir(tmp_path).shards()] == [2, 2, 1]
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    assert manifest["started_at"] == started
    assert len(manifest["resumed_at"]) == 1


def test_append_of_a_done_id_raises(tmp_path):
    write_run(tmp_path, ["p0"])
    with RunDir(tmp_path) as run:
        run.open(CONFIG, HASH, 0)
        with pytest.raises(RunDirError, match="p0"):
            run.append(make_tree("p0"))
        run.append(make_tree("p1"))
        with pytest.raises(RunDirError, match="p1"):
            run.append(make_tree("p1"))
    assert ids_in(tmp_path) == ["p0", "p1"]


def test_append_before_open_raises(tmp_path):
    with pytest.raises(RunDirError, match="not open"):
        RunDir(tmp_path).append(make_tree("p0"))


def test_truncated_last_line_is_repaired_and_the_rest_kept(tmp_path):
    write_run(tmp_path, ["p0", "p1", "p2"], shard_size=2)
    last = tmp_path / "trees" / "trees-00001.jsonl"
    intact = last.read_bytes()
    with last.open("ab") as f:
        f.write(orjson.dumps(make_tree("p3").to_dict())[:40])
    assert ids_in(tmp_path) == ["p0", "p1", "p2"]  # readers skip the unfinished line
    with RunDir(tmp_path, shard_size=2) as run:
        assert run.open(CONFIG, HASH, 0) == {"p0", "p1", "p2"}
        assert last.read_bytes() == intact
        run.append(make_tree("p3"))
    assert ids_in(tmp_path) == ["p0", "p1", "p2", "p3"]


def test_unterminated_valid_json_last_line_is_not_a_finished_record(tmp_path):
    write_run(tmp_path, ["p0"])
    shard = tmp_path / "trees" / "trees-00000.jsonl"
    with shard.open("ab") as f:
        f.write(orjson.dumps(make_tree("p1").to_dict()))
    with RunDir(tmp_path) as run:
        assert run.open(CONFIG, HASH, 0) == {"p0"}
        run.append(make_tree("p1"))
    assert ids_in(tmp_path) == ["p0", "p1"]


def test_corrupt_complete_line_raises_naming_file_and_line(tmp_path):
    write_run(tmp_path, ["p0", "p1", "p2"])
    shard = tmp_path / "trees" / "trees-00000.jsonl"
    lines = shard.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][:30] + b"\n"
    shard.write_bytes(b"".join(lines))
    before = shard.read_bytes()
    with pytest.raises(RunDirError, match=r"trees-00000\.jsonl:2\b"):
        RunDir(tmp_path).open(CONFIG, HASH, 0)
    assert shard.read_bytes() == before
    with pytest.raises(RunDirError, match=r"trees-00000\.jsonl:2\b"):
        list(RunDir(tmp_path).iter_trees())


def test_duplicate_id_in_shards_raises_naming_file_and_line(tmp_path):
    write_run(tmp_path, ["p0", "p1"], shard_size=1)
    first = (tmp_path / "trees" / "trees-00000.jsonl").read_bytes()
    (tmp_path / "trees" / "trees-00001.jsonl").write_bytes(first)
    with pytest.raises(RunDirError, match=r"trees-00001\.jsonl:1\b.*'p0'"):
        RunDir(tmp_path).open(CONFIG, HASH, 0)


def test_unterminated_line_in_an_earlier_shard_raises(tmp_path):
    write_run(tmp_path, ["p0", "p1"], shard_size=1)
    with (tmp_path / "trees" / "trees-00000.jsonl").open("ab") as f:
        f.write(b'{"problem_id": "p9"')
    with pytest.raises(RunDirError, match=r"trees-00000\.jsonl.*not the last shard"):
        RunDir(tmp_path).open(CONFIG, HASH, 0)


def test_different_config_raises_naming_differing_keys(tmp_path):
    write_run(tmp_path / "demo", ["p0"])
    other = {"seed": 1, "search": {"strategy": "mcts", "mcts": {"simulations": 128, "c_puct": 1.5}}}
    with pytest.raises(RunDirError) as info:
        RunDir(tmp_path / "demo").open(other, "def456", 1)
    message = str(info.value)
    assert str(tmp_path / "demo") in message
    assert "abc123" in message and "def456" in message
    assert "differing keys: search.mcts.simulations, seed." in message
    assert "c_puct" not in message and "strategy" not in message
    assert len(orjson.loads((tmp_path / "demo" / "manifest.json").read_bytes())["resumed_at"]) == 0


def test_differing_keys_include_added_and_removed_keys():
    old = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}
    new = {"a": 1, "b": {"c": 2, "x": 3}, "e": [1, 2, 3]}
    assert manifest_module.differing_keys(old, new) == ["b.d", "b.x", "e"]


def test_a_setting_added_unset_does_not_differ_from_its_absence():
    assert manifest_module.differing_keys({"a": 1}, {"a": 1, "later": None}) == []
    assert manifest_module.differing_keys({"a": 1, "later": None}, {"a": 1}) == []
    assert manifest_module.differing_keys({"a": 1}, {"a": 1, "later": 0}) == ["later"]


def test_read_manifest(tmp_path):
    with pytest.raises(RunDirError, match="no manifest.json"):
        RunDir(tmp_path).read_manifest()
    write_run(tmp_path, [])
    assert RunDir(tmp_path).read_manifest()["config"] == CONFIG
    (tmp_path / "manifest.json").write_bytes(b"{")
    with pytest.raises(RunDirError, match="manifest.json is not valid JSON"):
        RunDir(tmp_path).open(CONFIG, HASH, 0)


def test_nonempty_dir_without_manifest_raises(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match=r"not empty.*notes\.txt"):
        RunDir(tmp_path).open(CONFIG, HASH, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_path_that_is_a_file_raises(tmp_path):
    (tmp_path / "out").write_text("")
    with pytest.raises(RunDirError, match="not a directory"):
        RunDir(tmp_path / "out").open(CONFIG, HASH, 0)


def test_second_writer_on_the_same_dir_is_refused(tmp_path):
    with RunDir(tmp_path) as first:
        first.open(CONFIG, HASH, 0)
        with pytest.raises(RunDirError, match="in use"):
            RunDir(tmp_path).open(CONFIG, HASH, 0)
    with RunDir(tmp_path) as again:
        again.open(CONFIG, HASH, 0)


def write_records(run: RunDir, fmt: str, records) -> None:
    with run.open_traces(fmt) as f:
        for record in records:
            f.write(orjson.dumps(record) + b"\n")


def test_traces_and_stats_are_written_atomically(tmp_path):
    run = RunDir(tmp_path)
    records = [{"prompt": "p", "completion": "c", "n": i} for i in range(3)]
    write_records(run, "sft", records)
    path = tmp_path / "traces" / "sft.jsonl"
    assert [orjson.loads(line) for line in path.read_bytes().splitlines()] == records
    write_records(run, "sft", records[:1])
    assert path.read_bytes().count(b"\n") == 1

    def failing():
        yield {"ok": 1}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_records(run, "sft", failing())
    assert path.read_bytes().count(b"\n") == 1  # the old file is untouched
    assert os.listdir(run.traces_dir) == ["sft.jsonl"]
    assert run.write_stats({"solved": 3, "by": {"b": 1, "a": 2}}) == run.stats_path
    assert orjson.loads(run.stats_path.read_bytes()) == {"solved": 3, "by": {"b": 1, "a": 2}}
    assert sorted(os.listdir(tmp_path)) == ["stats.json", "traces"]


def test_trace_format_must_be_a_plain_name(tmp_path):
    with pytest.raises(RunDirError):
        RunDir(tmp_path).open_traces("../escape")


CHILD = """
import itertools, sys
from metacot.outputs.rundir import RunDir
from metacot.tree import SearchTree

run = RunDir(sys.argv[1], shard_size=int(sys.argv[2]))
done = run.open({"seed": 0}, "h", 0)
for i in itertools.count():
    pid = f"p{i:06d}"
    if pid not in done:
        tree = SearchTree.with_root(pid, {"numbers": [1, 2], "target": 3}, (1, 2))
        for j in range(200):
            tree.add_child(tree.root, f"step {j} " + "x" * 200, state=[j])
        run.append(tree)
"""


def complete_lines(path: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in RunDir(path).shards())


def run_child_and_kill(path: Path, shard_size: int, at_least: int) -> None:
    root = Path(rundir_module.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(shard_size)], env=env)
    try:
        deadline = time.monotonic() + 60
        while complete_lines(path) < at_least:
            assert child.poll() is None, "the child stopped before it was killed"
            assert time.monotonic() < deadline, "the child wrote too little"
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL


def test_resume_after_sigkill_mid_writing(tmp_path):
    path, shard_size = tmp_path / "run", 7
    run_child_and_kill(path, shard_size, at_least=20)
    run_child_and_kill(path, shard_size, at_least=complete_lines(path) + 20)  # a killed resume, too
    with RunDir(path, shard_size=shard_size) as run:
        done = run.open({"seed": 0}, "h", 0)
        written = [tree.problem_id for tree in run.iter_trees()]
        assert len(written) == len(set(written)) == len(done) >= 40
        assert written == [f"p{i:06d}" for i in range(len(done))]
        total = len(done) + 10
        for i in range(total):
            if f"p{i:06d}" not in done:
                run.append(SearchTree.with_root(f"p{i:06d}", {"numbers": [1, 2], "target": 3}, (1, 2)))
    assert ids_in(path) == [f"p{i:06d}" for i in range(total)]
    counts = [p.read_bytes().count(b"\n") for p in RunDir(path).shards()]
    assert all(c == shard_size for c in counts[:-1]) and 0 < counts[-1] <= shard_size
    assert all(p.read_bytes().endswith(b"\n") for p in RunDir(path).shards())


def failed_tree(pid: str) -> SearchTree:
    tree = make_tree(pid, width=0)
    tree.failed = "policy: RuntimeError: server said 503"
    return tree


def test_finished_counts_the_shards_not_the_bookkeeping_a_signal_may_cut_short(tmp_path):
    with RunDir(tmp_path) as run:
        run.open(CONFIG, HASH, 0)
        for tree in (make_tree("p0"), failed_tree("p1"), make_tree("p2")):
            run.append(tree)
        assert run.finished() == 2
        run.done.discard("p2")  # as if a signal landed after p2's record was written, before it was noted
        run.append(failed_tree("p4"))
        assert run.finished() == 2
    with RunDir(tmp_path) as run:
        run.open(CONFIG, HASH, 0)
        run.append(make_tree("p1"))  # a retry that succeeded supersedes the failed record
        assert run.finished() == 3


def test_a_failed_search_is_searched_again_and_its_new_tree_supersedes_it(tmp_path):
    with RunDir(tmp_path) as run:
        run.open(CONFIG, HASH, 0)
        for tree in (make_tree("p0"), failed_tree("p1"), make_tree("p2"), failed_tree("p3")):
            run.append(tree)
    with RunDir(tmp_path) as run:
        assert run.open(CONFIG, HASH, 0) == {"p0", "p2"} and run.failed == {"p1", "p3"}
        run.append(make_tree("p1"))  # the retry of p1 succeeds; p3's retry fails again
        run.append(failed_tree("p3"))
        with pytest.raises(RunDirError, match="p1"):
            run.append(make_tree("p1"))
    assert ids_in(tmp_path) == ["p0", "p2", "p1", "p3"]  # each once; a failed search that is still failed last
    assert [t.failed is None for t in RunDir(tmp_path).iter_trees()] == [True, True, True, False]
    with RunDir(tmp_path) as run:
        assert run.open(CONFIG, HASH, 0) == {"p0", "p1", "p2"} and run.failed == {"p3"}
    with RunDir(tmp_path) as run:  # --no-retry-failed: the failed search counts as done
        assert run.open(CONFIG, HASH, 0, retry_failed=False) == {"p0", "p1", "p2", "p3"}
        with pytest.raises(RunDirError, match="p3"):
            run.append(make_tree("p3"))


def test_a_finished_tree_followed_by_another_record_is_refused(tmp_path):
    shard = tmp_path / "trees" / "trees-00000.jsonl"
    write_run(tmp_path, ["p0"])
    with shard.open("ab") as f:
        f.write(orjson.dumps(failed_tree("p0").to_dict()) + b"\n")
    with pytest.raises(RunDirError, match=r"trees-00000\.jsonl:2 repeats problem id 'p0'"):
        RunDir(tmp_path).open(CONFIG, HASH, 0)


def test_stale_temp_files_are_removed_when_the_lock_holder_opens(tmp_path):
    write_run(tmp_path, ["p0"])
    stale = [tmp_path / "traces" / ".cot.jsonl.k2j3.tmp", tmp_path / ".manifest.json.x9.tmp"]
    stale.append(tmp_path / ".stats.json.a1.tmp")
    for path in stale:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"partial")
    kept = tmp_path / "traces" / "notes.tmp"  # not an AtomicFile's name
    kept.write_bytes(b"mine")
    with RunDir(tmp_path) as run:
        run.open(CONFIG, HASH, 0)
    assert not any(path.exists() for path in stale) and kept.exists()


def test_a_resume_records_settings_outside_the_hash_that_changed(tmp_path):
    write_run(tmp_path, ["p0"])
    moved = {**CONFIG, "policy": {"openai": {"base_url": "http://127.0.0.1:9/v1"}}}
    with RunDir(tmp_path) as run:
        assert run.open(moved, HASH, 0) == {"p0"}
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    assert manifest["config"] == CONFIG  # what the run was made with
    (change,) = manifest["config_changes"]
    assert change == {"at": manifest["resumed_at"][-1], "settings": {"policy": moved["policy"]}}


def test_the_failed_searches_to_retry_are_read_from_their_latest_records_alone(tmp_path):
    from metacot.synth import failed_trees

    with RunDir(tmp_path) as run:
        run.open(CONFIG, HASH, 0)
        for pid in ["a", "b", "c"]:
            tree = make_tree(pid)
            tree.failed = "backend down" if pid != "b" else None
            tree.verdicts = {"7": pid == "a"}
            run.append(tree)
    with RunDir(tmp_path) as run:
        run.open(CONFIG, HASH, 0, retry_failed=True)
        found = failed_trees(run, {"a", "b"})
    assert set(found) == {"a"}  # "b" finished; "c" was not asked for
    assert found["a"].failed == "backend down" and found["a"].verdicts == {"7": True}
    assert failed_trees(run, set()) == {}
