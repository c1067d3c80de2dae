"""The resume benchmark builds a stopped run of copied trees, and its resume searches only the problems left."""

from __future__ import annotations

import orjson

from metacot.bench.resume import bench_resume
from metacot.outputs.rundir import RunDir


def test_the_resume_benchmark_resumes_a_stopped_run_of_copies(tmp_path):
    figures = bench_resume(trees=60, new=3, out=str(tmp_path))
    assert (figures.trees, figures.new) == (60, 3)
    assert 0 < figures.first_search_seconds <= figures.total_seconds
    ids = [tree.problem_id for tree in RunDir(tmp_path / "run").iter_trees()]
    assert sorted(ids) == [f"resume-{i:07d}" for i in range(63)]
    assert ids[60:] == ["resume-0000060", "resume-0000061", "resume-0000062"]  # searched by the resume
    stats = orjson.loads((tmp_path / "run" / "stats.json").read_bytes())
    assert stats["problems"] == 63
    copies = [orjson.loads(line) for line in (tmp_path / "run" / "traces" / "cot.jsonl").read_bytes().splitlines()]
    assert len({r["problem_id"] for r in copies}) == len(copies) == stats["formats"]["cot"]["records"]
