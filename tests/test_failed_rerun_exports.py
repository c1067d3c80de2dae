"""A problem whose search failed and was searched again on a rerun appears once in the traces and in every export:
the failed record kept in trees/ as history is read by none of them."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import orjson
import pytest
from test_resume_traces import unsolved_too

from metacot import assemble
from metacot.cli import main
from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.synth import synth

datasets = pytest.importorskip("datasets")

FAILED = {"countdown-000001", "countdown-000003"}
EXPORTS = {
    "on_path-metacot/data.jsonl": ["--objective", "on_path"],
    "prm-labels-prm-t0.5-stepwise/data.jsonl": ["--prm-labels"],
    "pairs-prm-m0.3/data.jsonl": ["--pairs"],
    "full-metacot-parquet/data.parquet": ["--objective", "full", "--to", "parquet"],
    "metacot.parquet": ["--parquet", "metacot"],
    "metacot": ["--hf", "metacot"],
}


class FailsLater(SymbolicCountdownPolicy):
    """Fails the poisoned problems' calls from their fourth on: their failed trees hold the nodes grown before, which
    a reader of every record would turn into records."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def propose(self, requests):
        for poisoned in FAILED & {r.problem.id for r in requests}:
            self.calls[poisoned] += 1
            if self.calls[poisoned] > 3:
                raise ConnectionError("server said 503")
        return super().propose(requests)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """A run whose two searches failed and were searched again, and a copy whose shards hold only each problem's
    latest record (what every reader should see)."""
    out = tmp_path_factory.mktemp("rerun") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(assemble, "make_policy", lambda config, domain: FailsLater())
        assert synth(unsolved_too(out, 6), progress=False).stats["failed"] == 2
    assert synth(unsolved_too(out, 6), progress=False).retried == 2
    latest = out.parent / "latest"
    shutil.copytree(out, latest)
    for shard in (latest / "trees").glob("*.jsonl"):
        records = shard.read_bytes().splitlines(keepends=True)
        kept = [r for r in records if not orjson.loads(r)["failed"]]
        assert all(len(orjson.loads(r)["nodes"]) > 3 for r in records if r not in kept)
        assert len(records) - len(kept) == len(FAILED) * (shard.name == "trees-00000.jsonl")
        shard.write_bytes(b"".join(kept))
        shard.with_suffix(".idx").unlink()  # made again from the shard
    for run in (out, latest):
        for flags in EXPORTS.values():
            assert main(["export", str(run), "--no-progress", *flags]) == 0
    return out, latest


def rows(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]
    if path.suffix == ".parquet":
        return datasets.Dataset.from_parquet(str(path)).to_list()
    return datasets.load_from_disk(str(path)).to_list()


@pytest.mark.parametrize("export", EXPORTS)
def test_every_export_holds_each_problem_as_its_latest_record_alone_gives_it(runs, export):
    run, latest = runs
    got = rows(run / "exports" / export)
    assert {r["problem_id"] for r in got} == {f"countdown-{i:06d}" for i in range(6)}
    assert sorted(map(orjson.dumps, got)) == sorted(map(orjson.dumps, rows(latest / "exports" / export)))


def test_the_trace_files_load_as_datasets_with_each_problem_once(runs):
    run, _ = runs
    for traces in sorted((run / "traces").glob("*.jsonl")):
        loaded = datasets.load_dataset("json", data_files=str(traces), split="train")
        assert Counter(loaded["problem_id"]) == Counter(f"countdown-{i:06d}" for i in range(6)), traces.name
