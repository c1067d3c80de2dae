"""The command's error surface: one line per expected failure, tracebacks for bugs, clean stops on signals."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import stops_after

from metacot import cli
from metacot.cli import main
from metacot.cli import runs as cli_runs
from metacot.outputs.rundir import RunDir
from metacot.outputs.traces import TraceWriter
from metacot.search import Runner
from metacot.stop import Interrupted

COMMAND = [sys.executable, "-c", "import sys; from metacot.cli import main; sys.exit(main(sys.argv[1:]))"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def tree_ids(run: Path) -> list[str]:
    shards = sorted((run / "trees").glob("*.jsonl"))
    return [orjson.loads(line)["problem_id"] for shard in shards for line in shard.read_bytes().splitlines()]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_stops_with_one_line_and_a_rerun_does_every_problem_once(tmp_path, signum, code):
    out = tmp_path / "run"
    args = ["synth", "--out", str(out), "--no-progress", "--num-problems", "600", "--concurrency", "8"]
    process = subprocess.Popen([*COMMAND, *args], stderr=subprocess.PIPE, text=True)
    shard = out / "trees" / "trees-00000.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not shard.exists() or shard.read_bytes().count(b"\n") < 20):
        time.sleep(0.02)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code
    assert "Traceback" not in err
    match = re.fullmatch(r"metacot: stopped; (\d+) of 600 problems done; rerun the same command to resume\n", err)
    assert match, err
    done = int(match[1])
    assert 20 <= done < 600, "the signal should land in the middle of the run"
    assert len(tree_ids(out)) == done
    assert main(args) == 0
    assert tree_ids(out)[:done] == [f"countdown-{i:06d}" for i in range(done)]
    assert sorted(tree_ids(out)) == [f"countdown-{i:06d}" for i in range(600)]


def test_a_closed_pipe_ends_quietly(tmp_path):
    args = ["synth", "--out", str(tmp_path / "run"), "--no-progress", "--num-problems", "2"]
    process = subprocess.Popen([*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()  # `metacot synth | head -0`: the reader is gone before the summary is printed
    _, err = process.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipe" not in err
    assert process.returncode == 141


def test_a_directory_given_as_the_problem_file_is_one_line_naming_it(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "run"), "--problems", str(tmp_path)]) == 2
    line = one_line_error(capsys)
    assert str(tmp_path) in line and "Is a directory" in line


class FullDisk:
    """A file on a full disk: every write fails as the OS reports it, naming no file."""

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_full_disk_is_one_line_naming_the_shard(tmp_path, capsys, monkeypatch):
    def open_on_full_disk(self, index, count):
        self._file, self._index, self._shard, self._count = FullDisk(), FullDisk(), index, count

    monkeypatch.setattr(RunDir, "_open_shard", open_on_full_disk)
    assert main(["synth", "--out", str(tmp_path / "run"), "--no-progress", "--num-problems", "2"]) == 2
    line = one_line_error(capsys)
    assert "trees-00000.jsonl" in line and "No space left on device" in line


def test_a_missing_optional_dependency_names_the_extra(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--no-progress", "--num-problems", "2"]) == 0
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` fails as if it were not installed
    assert main(["export", str(out), "--parquet", "cot"]) == 2
    assert one_line_error(capsys) == (
        "metacot: datasets is not installed: install metacot[math] (pip install 'metacot[math]')"
    )


def test_out_of_memory_is_one_line(tmp_path, capsys, monkeypatch):
    def absurd(*args):
        raise MemoryError

    monkeypatch.setattr("metacot.synth.ProblemStream", absurd)
    assert main(["synth", "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "out of memory" in one_line_error(capsys)


def test_a_bug_still_shows_its_traceback_and_debug_shows_every_one(tmp_path, monkeypatch):
    def bug(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli_runs, "run_show", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["show", str(tmp_path)])
    monkeypatch.undo()
    assert main(["show", str(tmp_path)]) == 2
    with pytest.raises(cli.RunDirError, match="not a run directory"):
        main(["--debug", "show", str(tmp_path)])


@pytest.mark.parametrize(
    "command", [["linearize", "{run}"], ["export", "{run}", "--prm-labels"], ["export", "{run}", "--parquet", "cot"]]
)
def test_linearize_and_export_wait_for_the_run_lock(tmp_path, capsys, command):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--no-progress", "--num-problems", "3"]) == 0
    before = {p.name: p.read_bytes() for p in (out / "traces").iterdir()}
    capsys.readouterr()
    with RunDir(out).lock():  # a synth still writing to the run
        assert main([part.format(run=out) for part in command]) == 2
        assert "in use by another metacot process" in one_line_error(capsys)
    assert {p.name: p.read_bytes() for p in (out / "traces").iterdir()} == before
    assert not (out / "exports").exists()


@pytest.mark.parametrize("flag", ["--parquet", "--hf"])
@pytest.mark.parametrize("name", ["../outside", "/tmp/outside", "a/b", ".hidden", ""])
def test_export_names_that_would_write_outside_the_run_are_refused(tmp_path, capsys, flag, name):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--no-progress", "--num-problems", "2"]) == 0
    capsys.readouterr()
    assert main(["export", str(out), flag, name]) == 2
    line = one_line_error(capsys)
    assert flag in line and "not a plain name" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert not (out / "exports").exists()


def interrupt(*args, **kwargs):
    raise Interrupted(signal.SIGTERM)


@pytest.mark.parametrize(
    ("owner", "name", "done"),
    [(RunDir, "_scan", ""), (TraceWriter, "catch_up", "; 3 of 5 problems done")],
)
def test_a_signal_while_a_resume_rereads_the_run_is_one_line(tmp_path, capsys, monkeypatch, owner, name, done):
    args = ["synth", "--out", str(tmp_path / "run"), "--no-progress", "--num-problems", "5"]
    monkeypatch.setattr(Runner, "run", stops_after(3, signal.SIGTERM))
    assert main(args) == 143
    capsys.readouterr()
    monkeypatch.undo()
    monkeypatch.setattr(owner, name, interrupt)  # the signal comes while the resume reads what the run holds
    assert main(args) == 143
    assert one_line_error(capsys) == f"metacot: stopped{done}; rerun the same command to resume"
