"""Dataset scale: problems made one at a time, bounded oracle memos, the tree shards' index, light tree reading."""

from __future__ import annotations

import itertools
import time

import orjson
import pytest
from conftest import stops_after
from test_rundir import CONFIG, HASH, make_tree, write_run

import metacot.outputs.records as records_module
from metacot.config import SynthConfig
from metacot.linearize import LinearizeConfig
from metacot.outputs import RunDir
from metacot.outputs.show import show
from metacot.outputs.treeindex import index_path, read_index
from metacot.problems import ProblemsConfig, ProblemStream, make_problems, problem_digests
from metacot.problems.base import ProblemFileError
from metacot.problems.countdown import oracle
from metacot.problems.countdown.data import countdown_problems, generate_problems, load_problems
from metacot.search import Runner
from metacot.stop import Interrupted
from metacot.synth import relinearize, synth
from metacot.tree import SearchTree


def test_problems_are_made_one_at_a_time_in_the_order_and_with_the_digests_of_the_list():
    config = ProblemsConfig(num_problems=10**9)
    started = time.perf_counter()
    first = list(itertools.islice(ProblemStream(config, 3), 30))  # a list of 10**9 would never come
    assert time.perf_counter() - started < 5
    eager = generate_problems(30, 3)
    assert first == eager
    assert problem_digests(first) == problem_digests(eager)
    assert list(itertools.islice(ProblemStream(config, 3), 30)) == first  # each pass makes the same again


def test_a_countdown_file_is_read_line_by_line_with_the_ids_order_and_limit_of_the_whole_file(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [{"id": f"q{i}", "numbers": [i, 2, 3], "target": 6} for i in (5, 1, 9, 4)]
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows) + b"not json\n")
    config = ProblemsConfig(file=str(path), limit=3)
    assert next(countdown_problems(ProblemsConfig(file=str(path)), config.countdown, 0)).id == "q5"
    assert [p.id for p in ProblemStream(config, 0)] == ["q5", "q1", "q9"]  # the bad last line is never read
    assert ProblemStream(config, 0).count() == 3
    with pytest.raises(ProblemFileError, match=":5: invalid JSON"):
        load_problems(path)  # the whole file
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:3]))
    assert make_problems(config, 0) == load_problems(path)


def test_the_oracle_memos_are_bounded():
    for memo in (oracle._reachable_sos, oracle._reachable_ratios):
        assert memo.cache_info().maxsize == oracle.CACHE_SIZE <= 2**16


def small_run(out):
    config = SynthConfig(out=str(out))
    config.problems.num_problems, config.search.mcts.budget.nodes = 6, 12
    return config


def test_a_resumed_synth_searches_only_what_is_left_with_the_problems_of_a_whole_run(tmp_path, monkeypatch):
    config, whole = small_run(tmp_path / "run"), small_run(tmp_path / "whole")
    synth(whole, progress=False)
    monkeypatch.setattr(Runner, "run", stops_after(4))
    with pytest.raises(Interrupted):
        synth(config, progress=False)
    monkeypatch.undo()
    assert synth(config, progress=False).searched == 2
    assert synth(config, progress=False).searched == 0
    ours = [t.to_dict() for t in RunDir(config.out).iter_trees()]
    theirs = [t.to_dict() for t in RunDir(whole.out).iter_trees()]
    strip = [{**t, "compute": {**t["compute"], "wall_time": 0}} for t in ours]
    assert strip == [{**t, "compute": {**t["compute"], "wall_time": 0}} for t in theirs]


# --- the tree shards' index -------------------------------------------------------------------------------


def scanned(shard):
    """The shard's entries read from its bytes alone (no index)."""
    saved = index_path(shard).read_bytes()
    index_path(shard).unlink()
    try:
        return read_index(shard)[0]
    finally:
        index_path(shard).write_bytes(saved)


def test_the_index_is_written_with_the_shards_and_says_what_a_scan_says(tmp_path):
    write_run(tmp_path, [f"p{i}" for i in range(5)], shard_size=2)
    for shard in RunDir(tmp_path).shards():
        entries, exact = read_index(shard)
        assert exact and len(entries) in (1, 2)
        assert entries == scanned(shard)


def test_show_of_the_last_problem_parses_one_record(tmp_path, monkeypatch):
    write_run(tmp_path, [f"p{i}" for i in range(40)], shard_size=15)
    parses = []
    real = records_module.parse
    monkeypatch.setattr(records_module, "parse", lambda *args: parses.append(args[1]) or real(*args))
    assert show(tmp_path, "p39").startswith("p39 ")
    assert len(parses) == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda index: index.write_bytes(b"".join(index.read_bytes().splitlines(keepends=True)[:1])),  # a kill
        lambda index: index.write_bytes(index.read_bytes()[:-7]),  # a cut line
        lambda index: index.unlink(),
        lambda index: index.write_bytes(b'["p0", 0, 5, false]\n' + index.read_bytes()),  # wrong places
        lambda index: index.write_bytes(b"\x00garbage\n"),
    ],
)
def test_an_index_behind_its_shard_or_damaged_is_not_trusted_and_the_writer_rebuilds_it(tmp_path, damage):
    write_run(tmp_path, ["p0", "p1", "p2"])
    shard = RunDir(tmp_path).shards()[0]
    whole = read_index(shard)[0]
    damage(index_path(shard))
    assert read_index(shard) == (whole, False)
    with RunDir(tmp_path) as run:
        assert run.open(CONFIG, HASH, 0) == {"p0", "p1", "p2"}
        run.append(make_tree("p3"))
    entries, exact = read_index(shard)
    assert exact and [e.problem_id for e in entries] == ["p0", "p1", "p2", "p3"]
    assert entries == scanned(shard)


def test_an_index_is_not_trusted_past_an_edited_shard(tmp_path):
    write_run(tmp_path, ["p0", "p1", "p2"])
    shard = RunDir(tmp_path).shards()[0]
    lines = shard.read_bytes().splitlines(keepends=True)
    shard.write_bytes(lines[0] + lines[2])  # the index still says p1 lies second
    assert [e.problem_id for e in read_index(shard)[0]] == ["p0", "p2"]
    assert RunDir(tmp_path).tree_of("p1") is None


# --- reading trees ----------------------------------------------------------------------------------------


def test_from_dict_reads_back_what_to_dict_wrote_with_fields_left_out_at_their_defaults():
    tree = make_tree("p0", width=3)
    tree.nodes[1].slip, tree.nodes[2].successes, tree.nodes[2].rollouts = "2 + 2 is 4, not 5", 3, 4
    data = orjson.loads(orjson.dumps(tree.to_dict()))
    assert "slip" not in data["nodes"][2]
    assert SearchTree.from_dict(data).to_dict() == data


def test_linearize_counts_unsolved_trees_without_building_them(tmp_path, monkeypatch):
    config = small_run(tmp_path / "run")
    config.problems.num_problems, config.search.mcts.budget.nodes = 12, 60
    synth(config, progress=False)
    before = orjson.loads((tmp_path / "run" / "stats.json").read_bytes())
    unsolved = before["problems"] - before["solved"]
    assert 0 < unsolved < before["problems"]
    built = []
    real = SearchTree.from_dict
    monkeypatch.setattr(SearchTree, "from_dict", classmethod(lambda cls, data: built.append(1) or real(data)))
    after = relinearize(tmp_path / "run", LinearizeConfig(formats=config.linearize.formats))
    assert len(built) == before["solved"]
    assert {k: after[k] for k in ("problems", "solved", "mean_nodes", "compute", "formats")} == {
        k: before[k] for k in ("problems", "solved", "mean_nodes", "compute", "formats")
    }
