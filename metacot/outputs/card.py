"""An exported dataset folder: its name from the options, the records as JSONL, Parquet or a saved HF dataset and a
README.md dataset card (written beside it, then moved into place), and the one call that pushes it to the Hub."""

from __future__ import annotations

import glob
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from metacot.backends.secrets import safe_settings
from metacot.linearize.layout import PROMPT_COMPLETION
from metacot.outputs.files import TMP_SUFFIX, AtomicFile, outermost_missing, remove_made, write_atomic
from metacot.outputs.records import RunDirError
from metacot.outputs.records import lines as read_lines

TARGETS = ("jsonl", "parquet", "hf")
DATA_FILE = {"jsonl": "data.jsonl", "parquet": "data.parquet"}
NAME_PREFIX = {
    "threshold": "t",
    "margin": "m",
    "rollouts": "r",
    "tokenizer": "tok-",
}  # other options show as their bare value
NAME_LEFT_OUT = {"to": "jsonl", "record_layout": PROMPT_COMPLETION}  # options at these values go unnamed
PATH_OPTIONS = {"tokenizer"}  # named by the folder the path leads to


@dataclass
class Export:
    """What one export produced: its folder name, what it is (a title and the exporter's documentation), its
    options, the records, counts worth stating (records by kind, ...), and how they fare against the truth (made
    into a Markdown section once they are written; None where not measured).

    The records are made as save_export writes them, one tree's at a time, and read once: `counts` is added to as
    they are made, `written` and `fields` (their keys, in the order first seen) as they are written."""

    name: str
    title: str
    about: str
    options: dict
    records: Iterable[dict]
    counts: dict[str, int] = field(default_factory=dict)
    checked: Callable[[], str] | None = None
    written: int = 0
    fields: dict[str, None] = field(default_factory=dict)


def export_name(kind: str, options: dict) -> str:
    """An export's folder name: its kind, then each option that changes what it holds, in the order given (None
    and False left out, True as the option's name): pairs-prm-m0.3, prm-labels-mc-t0.5-stepwise,
    on_path-metacot-tok-my-policy-hf, pairs-prm-m0.3-single-scores."""
    parts = [kind]
    for key, value in options.items():
        if value is None or value is False or NAME_LEFT_OUT.get(key) == value:
            continue
        if value is True:
            parts.append(key.replace("_", "-"))
            continue
        text = f"{value:g}" if isinstance(value, float) else str(value)
        text = Path(text).resolve().name if key in PATH_OPTIONS else text
        parts.append(NAME_PREFIX.get(key, "") + re.sub(r"[^\w.-]+", "_", text))
    return "-".join(parts)


def check_free(target: Path, overwrite: bool) -> None:
    """A RunDirError when an export is already at `target` and `overwrite` is not given."""
    if target.exists() and not overwrite:
        raise RunDirError(f"{target}: an export with these options is already there; pass --overwrite to replace it")


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A path to write a file or folder at, beside `target` (in a hidden temporary folder), moved to `target` when
    the block ends without an error (replacing what was there); removed when it fails, leaving `target` as it was.
    Used under the run's lock: temporary folders of `target` found first were left by a killed export."""
    made = outermost_missing(target.parent)  # removed again when the export fails
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*{TMP_SUFFIX}"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=TMP_SUFFIX))
    try:
        yield staging / target.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        (staging / target.name).replace(target)
        made = None
    except OSError as error:  # a full disk: named by the target, not by the temporary folder that is removed
        if error.filename is not None and not Path(error.filename).is_relative_to(staging):
            raise
        raise OSError(error.errno, error.strerror or str(error), str(target)) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        remove_made(target.parent, made)


def save_export(export: Export, folder: Path, to: str, run_config: dict, license: str) -> Path:
    """Write the records and README.md into `folder` (replacing it once they are written). The records go to a
    JSONL file first, one at a time; Parquet and HF datasets are made from it a chunk at a time."""
    if to not in TARGETS:
        raise ValueError(f"--to: unknown {to!r}; expected one of {', '.join(TARGETS)}")
    with staged(folder) as new:
        new.mkdir()
        lines = new / DATA_FILE["jsonl"] if to == "jsonl" else new.parent / "records.jsonl"
        with AtomicFile(lines) as out:
            for record in export.records:
                out.write(orjson.dumps(record) + b"\n")
                export.written += 1
                export.fields.update(dict.fromkeys(record))
        if to != "jsonl":
            dataset = to_dataset(lines, new.parent / "records.arrow")
            if to == "parquet":
                dataset.to_parquet(str(new / DATA_FILE[to]))
            else:
                dataset.save_to_disk(str(new))
        write_atomic(new / "README.md", card(export, to, run_config, license).encode())
    return folder


CHUNK = 10_000  # records held at once while a JSONL file becomes a dataset


def to_dataset(lines: Path, arrow: Path):
    """The records of a JSONL file as the dataset Dataset.from_list makes of them (the first record's keys; each
    column's type found over every record), written to the Arrow file `arrow` a chunk at a time and mapped from it."""
    from datasets import Dataset  # an optional dependency (the math extra)
    from datasets.arrow_writer import ArrowWriter
    from datasets.features.features import _align_features

    keys: list[str] = []
    found = [Dataset.from_list(_columns(chunk, keys)).features for chunk in _chunks(lines, keys)]
    if not found:
        return Dataset.from_list([])
    features = _align_features(found)[0]
    with ArrowWriter(features=features, path=str(arrow)) as writer:
        for chunk in _chunks(lines, keys):
            writer.write_batch({key: [record.get(key) for record in chunk] for key in keys})
        writer.finalize()
    return Dataset.from_file(str(arrow))


def _chunks(lines: Path, keys: list[str]) -> Iterator[list[dict]]:
    """The file's records, CHUNK at a time; `keys` becomes the first record's keys."""
    chunk: list[dict] = []
    for _, line in read_lines(lines):
        chunk.append(orjson.loads(line))
        if not keys:
            keys.extend(chunk[0])
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _columns(chunk: list[dict], keys: list[str]) -> list[dict]:
    return [{key: record.get(key) for key in keys} for record in chunk]


class PushError(Exception):
    """A push to the Hub that failed (no network, no login, no such repo); the export is written locally."""


def push_to_hub(folder: Path, to: str, repo: str) -> None:
    """Push the export in `folder` (written `to`) as the Hub dataset `repo` (datasets' Dataset.push_to_hub) and put
    its card on top of the one that writes (needs a Hub login; the only calls that reach the network). PushError
    when it fails."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HTTPError

    try:
        with tempfile.TemporaryDirectory(prefix=".push.", suffix=TMP_SUFFIX, dir=folder.parent) as scratch:
            saved_dataset(folder, to, Path(scratch)).push_to_hub(repo)
        HfApi().upload_file(
            path_or_fileobj=str(folder / "README.md"), path_in_repo="README.md", repo_id=repo, repo_type="dataset"
        )
    except (OSError, ValueError, HTTPError) as error:  # the hub's errors: connection, login, repository, its name
        raise PushError(
            f"--push-to-hub {repo}: the push failed ({type(error).__name__}: {error}); the export is written "
            f"locally in {folder}/ (to push it again, rerun with --overwrite --push-to-hub {repo})"
        ) from error


def saved_dataset(folder: Path, to: str, scratch: Path):
    """The records of an export written `to` in `folder` as a dataset (a JSONL export's through an Arrow file in
    `scratch`)."""
    from datasets import Dataset, load_from_disk

    if to == "hf":
        return load_from_disk(str(folder))
    if to == "parquet":
        return Dataset.from_parquet(str(folder / DATA_FILE[to]))
    return to_dataset(folder / DATA_FILE[to], scratch / "records.arrow")


def card(export: Export, to: str, run_config: dict, license: str) -> str:
    """The dataset card: YAML metadata (license, tags, data files), then what the records are and how they were
    made."""
    data_files = f"configs:\n- config_name: default\n  data_files: {DATA_FILE[to]}\n" if to in DATA_FILE else ""
    counts = {"records": export.written, **export.counts}
    lines = [
        "---",
        f"license: {license}",
        "tags:\n- metacot\n- synthetic\n- reasoning\n- search",
        f"{data_files}---",
        f"# {export.name}",
        "",
        f"{export.title}, exported by `metacot export` from a saved metacot run (no new search).",
        "",
        "## Counts",
        "",
        *(f"- {key}: {value}" for key, value in counts.items()),
        "",
        "## Fields",
        "",
        *(f"- `{key}`" for key in export.fields),
        "",
        "## Options",
        "",
        "```json",
        orjson.dumps(export.options, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode(),
        "```",
        "",
        "## What the records are",
        "",
        export.about.strip(),
        "",
        *(["## Checked against the truth", "", export.checked().strip(), ""] if export.checked else []),
        "## How the run was made",
        "",
        "The search, policy, PRM, problem and linearize settings of the run (its manifest's config):",
        "",
        "```json",
        orjson.dumps(chosen_settings(run_config), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode(),
        "```",
        "",
        "## Loading",
        "",
        "```python",
        _loading(to),
        "```",
        "",
    ]
    return "\n".join(lines)


def chosen_settings(config: dict) -> dict:
    """The run config with each section cut down to its selector and the selected subsection (the search's own
    settings, not every search's), less its transport settings (how a server was reached: config.transport), and
    with the credentials of any other URL hidden."""
    from metacot.config import SELECTORS, SynthConfig, transport

    defaults = SynthConfig()
    out = {key: value for key, value in config.items() if key not in SELECTORS}
    for section, selector in SELECTORS.items():
        table = config.get(section, {})
        chosen = table.get(selector)
        plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if isinstance(table.get(chosen), dict):
            left_out = transport(getattr(defaults, section), chosen)
            plain[chosen] = {k: v for k, v in table[chosen].items() if k not in left_out}
        out[section] = plain
    return safe_settings(out)


def _loading(to: str) -> str:
    if to == "hf":
        return 'from datasets import load_from_disk\n\ndataset = load_from_disk("THIS_FOLDER")'
    kind = "json" if to == "jsonl" else "parquet"
    files = f"THIS_FOLDER/{DATA_FILE[to]}"
    return f'from datasets import load_dataset\n\ndataset = load_dataset("{kind}", data_files="{files}")'
