"""Exports lose nothing: folders named by their options, replaced only with --overwrite and only once the new one is
written; a bad tokenizer path, a failed Hub push or an OS error is one line, exit 2, the local output intact."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from export_runs import countdown_run

from metacot.cli import main
from metacot.outputs.card import export_name
from metacot.outputs.files import AtomicFile

COMMAND = [sys.executable, "-c", "import sys; from metacot.cli import main; sys.exit(main(sys.argv[1:]))"]
NO_HUB = {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing answers there: no test goes online


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    return countdown_run(tmp_path_factory.mktemp("safety") / "run", problems=3)


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under the folder, hidden ones included, by its relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def metacot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *args, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_folder_names_carry_the_options_that_change_the_records():
    assert export_name("pairs", {"source": "prm", "margin": 0.3, "to": "jsonl"}) == "pairs-prm-m0.3"
    assert export_name("prm-labels", {"source": "mc", "threshold": 0.5, "layout": "stepwise"}) == (
        "prm-labels-mc-t0.5-stepwise"
    )
    named = export_name("on_path", {"format": "metacot", "tokenizer": "models/my policy/", "to": "hf"})
    assert named == "on_path-metacot-tok-my_policy-hf"
    assert export_name("on_path", {"format": "metacot", "tokenizer": None, "to": "jsonl"}) == "on_path-metacot"


def test_exports_with_other_options_land_beside_each_other_and_the_same_ones_need_overwrite(run, capsys):
    exports = Path(run) / "exports"
    assert main(["export", run, "--no-progress", "--pairs"]) == 0
    assert main(["export", run, "--no-progress", "--pairs", "--margin", "0.5", "--label-source", "subtree"]) == 0
    assert main(["export", run, "--no-progress", "--prm-labels", "--threshold", "0.7"]) == 0
    capsys.readouterr()
    names = {p.name for p in exports.iterdir()}
    assert {"pairs-prm-m0.3", "pairs-subtree-m0.5", "prm-labels-prm-t0.7-stepwise"} <= names
    for folder, margin in (("pairs-prm-m0.3", 0.3), ("pairs-subtree-m0.5", 0.5)):  # each card tells its own
        assert f'"margin": {margin}' in (exports / folder / "README.md").read_text()
    before = snapshot(exports)
    assert main(["export", run, "--no-progress", "--pairs"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "pairs-prm-m0.3: an export with these options is already there" in line and "--overwrite" in line
    assert snapshot(exports) == before
    assert main(["export", run, "--no-progress", "--pairs", "--overwrite"]) == 0
    assert snapshot(exports) == before  # replaced by the same records
    assert main(["export", run, "--no-progress", "--parquet", "cot"]) == 0
    capsys.readouterr()
    assert main(["export", run, "--no-progress", "--parquet", "cot"]) == 2
    assert "cot.parquet: an export with these options is already there" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", ["export", "prime"])
@pytest.mark.parametrize("given", ["./my-policy", "nope", "EMPTY"])
def test_a_tokenizer_path_that_is_no_tokenizer_folder_is_one_line_and_reaches_no_hub(run, tmp_path, command, given):
    empty = tmp_path / "empty"
    empty.mkdir()
    path = str(empty) if given == "EMPTY" else given
    args = ["--objective", "on_path"] if command == "export" else ["--variant", "dots_cot"]
    before = snapshot(Path(run))
    started = time.monotonic()
    done = metacot(command, run, *args, "--tokenizer", path, env=NO_HUB)
    assert time.monotonic() - started < 60  # it used to spend 61 s trying to reach a hub
    assert done.returncode == 2
    line = one_line(done.stderr)
    if given == "EMPTY":
        assert f"--tokenizer: cannot load a tokenizer from the folder '{path}'" in line
    else:
        assert (
            f"--tokenizer: need a local folder with the tokenizer files (tokenizer.json, tokenizer_config.json), "
            f"got '{path}'" in line
        )
    assert snapshot(Path(run)) == before


class RefusingHub(BaseHTTPRequestHandler):
    """A stand-in Hub on 127.0.0.1 that answers every request with the server's status (401: no login, 404: no such
    repository)."""

    def _refuse(self) -> None:
        body = orjson.dumps({"error": "refused"})
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _refuse

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hub(request):
    """The endpoint of a Hub that refuses with the test's status, or of nothing at all (None: connection refused)."""
    if request.param is None:
        yield "http://127.0.0.1:9"
        return
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingHub)
    server.status = request.param  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("hub", [None, 401, 404], indirect=True)
def test_a_failed_push_is_one_line_that_names_the_local_export_which_stays(run, tmp_path, hub):
    pytest.importorskip("datasets")
    env = {"HF_ENDPOINT": hub, "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_not_a_real_token", "HF_HOME": str(tmp_path)}
    done = metacot("export", run, "--pairs", "--margin", "0.9", "--overwrite", "--push-to-hub", "me/pairs", env=env)
    assert done.returncode == 2
    line = one_line(done.stderr)
    folder = Path(run) / "exports" / "pairs-prm-m0.9"
    assert line.startswith("metacot: error: --push-to-hub me/pairs: the push failed (")
    assert f"the export is written locally in {folder}/" in line
    records = (folder / "data.jsonl").read_bytes().splitlines()
    assert records and (folder / "README.md").exists()
    kept = main(["export", run, "--no-progress", "--pairs", "--margin", "0.9", "--overwrite"])
    assert kept == 0  # the same records, kept
    assert (folder / "data.jsonl").read_bytes().splitlines() == records


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write reports it: without the file's name


def library_error(*args, **kwargs):
    raise OSError("Parquet writer: could not write the file")  # a library's own OSError: no errno, no file


@pytest.mark.parametrize(
    ("target", "patch", "says"),
    [
        ("jsonl", (AtomicFile, "write", no_space), "No space left on device"),
        ("parquet", ("datasets.Dataset.to_parquet", None, library_error), "could not write the file"),
    ],
)
def test_an_os_error_is_one_line_naming_the_path_and_an_earlier_export_stays(
    tmp_path, capsys, monkeypatch, target, patch, says
):
    pytest.importorskip("datasets")
    run = countdown_run(tmp_path / "run", problems=2)
    exports = Path(run) / "exports"
    assert main(["export", run, "--no-progress", "--prm-labels", "--to", target]) == 0
    capsys.readouterr()
    before = snapshot(exports)
    owner, name, fault = patch
    if owner is AtomicFile:
        monkeypatch.setattr(AtomicFile, name, fault)
    else:
        monkeypatch.setattr(owner, fault)
    assert main(["export", run, "--no-progress", "--prm-labels", "--to", target, "--overwrite"]) == 2
    monkeypatch.undo()
    line = one_line(capsys.readouterr().err)
    assert says in line and f"{exports}/prm-labels-prm-t0.5-stepwise" in line
    assert snapshot(exports) == before  # the earlier export as it was, and no half-written folder beside it


def test_a_file_where_the_exports_folder_should_be_is_one_line_naming_it(tmp_path, capsys):
    run = countdown_run(tmp_path / "run", problems=2)
    (Path(run) / "exports").write_text("not a folder")
    assert main(["export", run, "--no-progress", "--pairs"]) == 2
    assert f"{run}/exports" in one_line(capsys.readouterr().err)
    assert (Path(run) / "exports").read_text() == "not a folder"


@pytest.mark.parametrize(("flag", "name"), [("--parquet", "metacot.parquet"), ("--hf", "metacot")])
def test_a_full_disk_under_a_trace_dataset_export_is_one_line_naming_it_and_leaves_nothing(
    tmp_path, capsys, monkeypatch, flag, name
):
    """The dataset's Arrow cache is written first (before, into the HF cache, where a full disk was blamed on the
    trace file: 'its last line is unterminated')."""
    pytest.importorskip("datasets")
    from datasets.arrow_writer import ArrowWriter

    run = Path(countdown_run(tmp_path / "run", problems=2))
    before = snapshot(run)
    monkeypatch.setattr(ArrowWriter, "write_table", no_space)
    assert main(["export", str(run), "--no-progress", flag, "metacot"]) == 2
    monkeypatch.undo()
    assert one_line(capsys.readouterr().err) == f"metacot: error: {run / 'exports' / name}: No space left on device"
    assert snapshot(run) == before  # no exports/ folder, no temporary file, the traces as they were


def test_an_export_refused_while_its_records_are_made_leaves_no_exports_folder(tmp_path, capsys):
    run = Path(countdown_run(tmp_path / "run", problems=2))
    before = snapshot(run)
    assert main(["export", str(run), "--no-progress", "--objective", "on_path", "--format", "nosuch"]) == 2
    assert "unknown format 'nosuch'" in one_line(capsys.readouterr().err)
    assert snapshot(run) == before and not (run / "exports").exists()
