"""Readers stream: export, audit, prime and behaviors hold a tree or two at a time, never the run; a behaviour tagger
is handed records as they are read; a dataset export made a chunk at a time equals the one made of every record."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from export_runs import countdown_run
from test_rundir import CONFIG, HASH, failed_tree, make_tree

from metacot.behaviors.measure.base import BehaviorCounts
from metacot.behaviors.measure.inputs import Item, Items
from metacot.behaviors.measure.tagging import measure
from metacot.cli import main
from metacot.outputs import card
from metacot.outputs.rundir import RunDir
from metacot.outputs.shards import TreeLookup
from metacot.tree import SearchTree

PROBLEMS = 8


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    return countdown_run(tmp_path_factory.mktemp("stream") / "run", problems=PROBLEMS, prm="rollout", search="astar")


@pytest.fixture
def alive(monkeypatch) -> list[int]:
    """[the most trees alive at once while one was built, the trees built], as the commands run."""
    trees: list[weakref.ref[SearchTree]] = []
    seen = [0, 0]
    build = SearchTree.from_dict.__func__  # type: ignore[attr-defined]

    def counted(cls, data: dict) -> SearchTree:
        gc.collect()  # a tree let go of but in a reference cycle is not held
        tree = build(cls, data)
        trees.append(weakref.ref(tree))
        seen[0], seen[1] = max(seen[0], sum(ref() is not None for ref in trees)), seen[1] + 1
        return tree

    monkeypatch.setattr(SearchTree, "from_dict", classmethod(counted))
    return seen


@pytest.mark.parametrize(
    "command",
    [
        ["audit"],
        ["prime", "--variant", "all_strategies"],
        ["prime", "--variant", "only_backtracking", "--sizes", "4", "--records", "6"],
        ["behaviors"],
    ],
)
def test_a_reader_holds_a_tree_or_two_at_a_time(run, alive, command):
    assert main([command[0], run, *command[1:], "--no-progress"]) == 0
    assert alive[1] >= PROBLEMS  # every tree was read
    assert alive[0] <= 2


@pytest.mark.parametrize(
    "kind",
    [["--pairs"], ["--prm-labels", "--label-source", "mc"], ["--objective", "pruned", "--to", "parquet"]],
)
def test_an_export_writes_each_trees_records_before_it_reads_the_next(run, alive, monkeypatch, kind):
    read_by_write: list[int] = []

    class Noting(card.AtomicFile):
        def write(self, data: bytes) -> None:
            read_by_write.append(alive[1])
            super().write(data)

    monkeypatch.setattr(card, "AtomicFile", Noting)
    assert main(["export", run, *kind, "--overwrite", "--no-progress"]) == 0
    assert alive[1] == PROBLEMS and alive[0] <= 2
    assert read_by_write[0] == 1 and len(set(read_by_write)) > PROBLEMS / 2  # written between the trees' reads


def test_a_lookup_reads_a_tree_only_when_asked_for_it(run, alive):
    lookup = TreeLookup(RunDir(run))
    assert alive[1] == 0
    ids = [tree.problem_id for tree in RunDir(run).iter_trees()]
    alive[1] = 0
    assert lookup.get(ids[-1]).problem_id == ids[-1] and lookup.get("no-such-problem") is None
    assert alive[1] == 1


class CountingItems(Items):
    """Items that count how many records have been read from the files so far."""

    read = 0

    def __iter__(self) -> Iterator[Item]:
        for item in super().__iter__():
            CountingItems.read += 1
            yield item


class Tagger:
    """Notes how many records had been read when each batch came."""

    name = "noting"

    def __init__(self) -> None:
        self.read_by_batch: list[int] = []

    def tag(self, records: list[dict]) -> list[BehaviorCounts]:
        self.read_by_batch.append(CountingItems.read)
        return [BehaviorCounts() for _ in records]


def test_a_tagger_gets_records_as_they_are_read(run, tmp_path):
    total = Items(Path(run)).count()
    CountingItems.read = 0
    items, tagger = CountingItems(Path(run)), Tagger()
    assert measure(items, tagger, tmp_path / "rows.jsonl", "format", batch=2, progress=False) == 0
    assert total > PROBLEMS and CountingItems.read == total
    assert tagger.read_by_batch == [min(n, total) for n in range(2, total + 2, 2)]  # never more than a batch ahead
    assert len((tmp_path / "rows.jsonl").read_bytes().splitlines()) == total


def test_a_dataset_made_a_chunk_at_a_time_is_the_one_made_of_every_record(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    records = [{"id": i, "answer": None if i < 4 else f"a{i}", "values": [i / 2] * (i % 3)} for i in range(10)]
    records[7]["extra"] = 1  # a key the first record lacks: left out, as Dataset.from_list does
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    monkeypatch.setattr(card, "CHUNK", 3)  # the first chunk's answers are all null
    made = card.to_dataset(path, tmp_path / "records.arrow")
    whole = datasets.Dataset.from_list(records)
    assert made.features == whole.features and made.to_list() == whole.to_list()
    made.to_parquet(str(tmp_path / "made.parquet"))
    whole.to_parquet(str(tmp_path / "whole.parquet"))
    assert (tmp_path / "made.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()


def test_a_lookup_finds_each_problems_latest_tree_across_shards(tmp_path):
    with RunDir(tmp_path, shard_size=2) as run:
        run.open(CONFIG, HASH, 0)
        for tree in (make_tree("p0"), failed_tree("p1"), make_tree("p2"), failed_tree("p3")):
            run.append(tree)
    with RunDir(tmp_path, shard_size=2) as run:
        run.open(CONFIG, HASH, 0)
        run.append(make_tree("p1"))  # a retry that succeeds, in a third shard
    lookup, held = TreeLookup(RunDir(tmp_path)), list(RunDir(tmp_path).iter_trees())
    assert [lookup.tree(found).to_dict() for found in lookup.finished()] == [
        t.to_dict() for t in held if t.failed is None
    ]  # in the order iter_trees gives them: p0, p2, then the retried p1 from the third shard
    assert all(lookup.get(t.problem_id).to_dict() == t.to_dict() for t in held)
    assert lookup.get("p3").failed is not None and lookup.get("p1").failed is None
