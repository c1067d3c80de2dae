"""Refactors keep outputs byte-identical: the default demo's trees and traces for every strategy, and a small
strategy benchmark's rows, hash to the digests in tests/golden/digests.json.

A change that is meant to alter outputs (a new trace sentence, a search fix) regenerates the digests with
`METACOT_UPDATE_GOLDEN=1 pytest tests/test_golden.py` and says why in its commit message.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import orjson
import pytest

from metacot.bench.strategies import BenchSettings, bench_strategies
from metacot.config import SynthConfig
from metacot.synth import synth

DIGESTS = Path(__file__).parent / "golden" / "digests.json"
STRATEGIES = ("mcts", "astar", "beam", "best_of_n", "bfs", "dfs")
UPDATE = os.environ.get("METACOT_UPDATE_GOLDEN") == "1"


def _digest(chunks) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def _without_timings(record: dict, keys: tuple[str, ...]) -> bytes:
    record = dict(record)
    if "compute" in record:
        record["compute"] = {k: v for k, v in record["compute"].items() if k != "wall_time"}
    for key in keys:
        record.pop(key, None)
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def demo_digests(out: Path, strategy: str) -> dict[str, str]:
    """The default demo with one strategy: a digest of its trees (less wall times) and of each trace file."""
    config = SynthConfig(out=str(out / strategy))
    config.search.strategy = strategy
    synth(config, progress=False)
    run = out / strategy
    trees = sorted((run / "trees").glob("*.jsonl"))
    digests = {"trees": _digest(_without_timings(t, ()) for shard in trees for t in _lines(shard))}
    for trace in sorted((run / "traces").glob("*.jsonl")):
        digests[trace.stem] = _digest([trace.read_bytes()])
    return digests


def bench_digest(out: Path) -> str:
    """A small strategy benchmark: every strategy, two budgets, two noise levels; rows less their timings."""
    settings = BenchSettings(out=str(out), num_problems=30, budgets=[20, 100], noise=[0.0, 0.2], concurrency=16)
    result = bench_strategies(settings, progress=False)
    return _digest(_without_timings(row, ("ms", "wall_time")) for row in result.rows)


def current(tmp_path: Path) -> dict:
    return {
        "demo": {s: demo_digests(tmp_path / "demo", s) for s in STRATEGIES},
        "bench_strategies": bench_digest(tmp_path / "bench"),
    }


def test_outputs_match_the_golden_digests(tmp_path):
    got = current(tmp_path)
    if UPDATE:
        DIGESTS.write_text(orjson.dumps(got, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n")
        pytest.skip(f"wrote {DIGESTS}")
    want = orjson.loads(DIGESTS.read_bytes())
    assert got == want, "outputs changed; if on purpose, regenerate (see this module's docstring)"
