"""A behaviour tagger added as docs/extending.md says (its module and one registry line) is measured with, writes
its own rows file, and leaves the other taggers' files alone."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from export_runs import countdown_run

from metacot.behaviors.definitions import BEHAVIORS
from metacot.behaviors.measure import registry
from metacot.behaviors.measure.base import BehaviorCounts, Tagger
from metacot.behaviors.measure.registry import TaggerEntry, TaggerSettings
from metacot.cli import main
from metacot.linearize.layout import completion_of


class GoBackTagger:
    """Counts 'go back' as backtracking, nothing else."""

    name = "goback"

    def tag(self, records: list[dict]) -> list[BehaviorCounts]:
        return [self._count(completion_of(record)) for record in records]

    def _count(self, text: str) -> BehaviorCounts:
        counts: dict[str, int | None] = dict.fromkeys(BEHAVIORS, 0)
        counts["backtracking"] = text.count("go back")
        return BehaviorCounts(counts)


def _goback(path: Path, settings: TaggerSettings) -> Tagger:
    return GoBackTagger()


@pytest.fixture
def goback(monkeypatch):
    monkeypatch.setitem(registry.TAGGERS, "goback", TaggerEntry(_goback, "goback.jsonl"))


def test_a_registered_tagger_measures_a_run_into_its_own_file(tmp_path, goback):
    run = countdown_run(tmp_path / "run", problems=3)
    out = tmp_path / "measured"
    assert main(["behaviors", run, "--out", str(out), "--no-progress"]) == 0
    structural = (out / "structural.jsonl").read_bytes()
    assert main(["behaviors", run, "--tagger", "goback", "--out", str(out), "--no-progress"]) == 0
    rows = [orjson.loads(line) for line in (out / "goback.jsonl").read_bytes().splitlines()]
    texts = [
        completion_of(orjson.loads(line))
        for trace in sorted((Path(run) / "traces").glob("*.jsonl"))
        for line in trace.read_bytes().splitlines()
    ]
    assert len(rows) == len(texts) and {row["tagger"] for row in rows} == {"goback"}
    assert sorted(row["backtracking"] for row in rows) == sorted(text.count("go back") for text in texts)
    assert any(row["backtracking"] for row in rows)
    assert (out / "structural.jsonl").read_bytes() == structural  # the other tagger's counts are left alone
