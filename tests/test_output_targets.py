"""No writer replaces what is not a regular file: a device, a pipe or a directory given as an output path is refused
with one line naming it (exit 2), untouched; a write's temporary file is hidden beside its target and gone after any
failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest
from export_runs import countdown_run

from metacot.behaviors.handbook.entries import builtin_handbook, load_handbook, save_handbook
from metacot.cli import main
from metacot.outputs.files import TMP_SUFFIX, AtomicFile, append_to, write_atomic


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    return countdown_run(tmp_path_factory.mktemp("targets") / "run", problems=2)


@pytest.fixture(params=["fifo", "directory"])
def special(request, tmp_path) -> Path:
    """A path in an otherwise empty folder holding a FIFO (as /dev/null or /dev/full would be: not a regular file)
    or a directory."""
    folder = tmp_path / "place"
    folder.mkdir()
    target = folder / "target"
    if request.param == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    return target


def kind(path: Path) -> int:
    return stat.S_IFMT(path.lstat().st_mode)


def left_beside(target: Path) -> list[str]:
    """What is in the target's folder, and its parent's, besides the target itself."""
    folders = (target.parent, target.parent.parent)
    return sorted(str(p) for folder in folders for p in folder.iterdir() if p not in (target, target.parent))


@pytest.mark.parametrize(
    "write",
    [
        lambda path: write_atomic(path, b"x\n"),
        lambda path: append_to(path).close(),
        lambda path: save_handbook(load_handbook(builtin_handbook("countdown")), path),
    ],
    ids=["write_atomic", "append_to", "save_handbook"],
)
def test_a_writer_refuses_what_is_not_a_regular_file(special, write):
    before = kind(special)
    with pytest.raises(OSError) as caught:
        write(special)
    assert caught.value.filename == str(special)
    assert kind(special) == before
    assert left_beside(special) == []


@pytest.mark.parametrize(
    "command",
    [
        ["view", "{run}", "--out", "{target}"],
        ["prime", "{run}", "--variant", "all_strategies", "--out", "{target}"],
        ["handbook", "merge", "{handbook}", "--out", "{target}"],
    ],
    ids=["view", "prime", "handbook-merge"],
)
def test_a_command_refuses_an_out_that_is_not_a_regular_file(special, command, run, capsys):
    before = kind(special)
    argv = [a.format(run=run, target=special, handbook=builtin_handbook("countdown")) for a in command]
    assert main([*argv, "--no-progress"] if command[0] != "handbook" else argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"metacot: error: {special}: ") and "\n" not in err
    assert kind(special) == before
    assert left_beside(special) == []


def test_the_temporary_file_is_hidden_beside_the_target_and_gone_after_a_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), AtomicFile(target) as f:
        f.write(b"half")
        (written,) = tmp_path.iterdir()
        assert written.name.startswith(".out.jsonl.") and written.name.endswith(TMP_SUFFIX)
        raise RuntimeError("the writer failed")
    assert list(tmp_path.iterdir()) == []

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_atomic(target, b"whole\n")
    assert list(tmp_path.iterdir()) == []


def test_a_handbook_is_written_through_a_hidden_temporary_file(tmp_path, monkeypatch):
    """The old writer put hb.jsonl.tmp (not hidden, unknown to the cleanup) beside the handbook and left it on a
    failure."""
    entries = load_handbook(builtin_handbook("countdown"))
    seen = []
    real = os.replace

    def watch(src, dst):
        seen.append(Path(src).name)
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", watch)
    with pytest.raises(OSError):
        save_handbook(entries, tmp_path / "hb.jsonl")
    monkeypatch.setattr(os, "replace", real)
    assert seen and seen[0].startswith(".hb.jsonl.") and seen[0].endswith(TMP_SUFFIX)
    assert list(tmp_path.iterdir()) == []
    save_handbook(entries, tmp_path / "hb.jsonl")
    assert [orjson.loads(line)["name"] for line in (tmp_path / "hb.jsonl").read_bytes().splitlines()] == [
        e.name for e in entries
    ]


def test_a_plot_refuses_what_is_not_a_regular_file(special):
    pytest.importorskip("matplotlib")
    from metacot.bench.plots import pyplot, save_figure

    fig, _ = pyplot().subplots()
    before = kind(special)
    with pytest.raises(OSError):
        save_figure(fig, special)
    assert kind(special) == before
    assert left_beside(special) == []


class FullDisk:
    """A file being written on a full disk: each write fails as the OS reports it, naming no file."""

    def __init__(self, file):
        self.file = file

    def write(self, data: bytes) -> int:
        raise OSError(28, os.strerror(28))

    def close(self) -> None:
        self.file.close()


def on_full_disk(fdopen):
    """os.fdopen, the files it opens for writing on a full disk."""
    return lambda fd, mode="r", *args, **kwargs: (
        FullDisk(fdopen(fd, mode, *args, **kwargs)) if "w" in mode else fdopen(fd, mode, *args, **kwargs)
    )


def test_handbook_merge_on_a_full_disk_is_one_line_and_leaves_no_folder_it_made(tmp_path, monkeypatch, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(builtin_handbook("countdown").read_bytes())
    before = source.read_bytes()
    target = tmp_path / "new" / "deeper" / "hb.jsonl"

    monkeypatch.setattr(os, "fdopen", on_full_disk(os.fdopen))
    assert main(["handbook", "merge", str(source), "--out", str(target)]) == 2
    assert capsys.readouterr().err == f"metacot: error: {target}: No space left on device\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # no new/deeper/ left, no temporary file
    assert source.read_bytes() == before
