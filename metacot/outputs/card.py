"""An exported dataset folder: the records as JSONL, Parquet or a saved HF dataset, a README.md dataset card, and
the one call that pushes it to the Hugging Face Hub."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from metacot.outputs.files import AtomicFile

TARGETS = ("jsonl", "parquet", "hf")
DATA_FILE = {"jsonl": "data.jsonl", "parquet": "data.parquet"}


@dataclass
class Export:
    """What one export produced: its folder name, what it is (a title and the exporter's documentation), its
    options, the records, and counts worth stating (records by kind, ...)."""

    name: str
    title: str
    about: str
    options: dict
    records: list[dict]
    counts: dict[str, int] = field(default_factory=dict)


def save_export(export: Export, folder: Path, to: str, run_config: dict, license: str) -> Path:
    """Write the records (replacing the folder) and README.md into `folder`."""
    if to not in TARGETS:
        raise ValueError(f"--to: unknown {to!r}; expected one of {', '.join(TARGETS)}")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if to == "jsonl":
        with AtomicFile(folder / DATA_FILE[to]) as out:
            for record in export.records:
                out.write(orjson.dumps(record) + b"\n")
    else:
        dataset = to_dataset(export.records)
        if to == "parquet":
            dataset.to_parquet(str(folder / DATA_FILE[to]))
        else:
            dataset.save_to_disk(str(folder))
    (folder / "README.md").write_text(card(export, to, run_config, license), encoding="utf-8")
    return folder


def to_dataset(records: list[dict]):
    from datasets import Dataset  # an optional dependency (the math extra)

    return Dataset.from_list(records)


def push_to_hub(export: Export, folder: Path, repo: str) -> None:
    """Push the records as the Hub dataset `repo` (datasets' Dataset.push_to_hub) and put the folder's card on top
    of the one it writes (needs a Hub login; the only calls that reach the network)."""
    from huggingface_hub import HfApi

    to_dataset(export.records).push_to_hub(repo)
    HfApi().upload_file(
        path_or_fileobj=str(folder / "README.md"), path_in_repo="README.md", repo_id=repo, repo_type="dataset"
    )


def card(export: Export, to: str, run_config: dict, license: str) -> str:
    """The dataset card: YAML metadata (license, tags, data files), then what the records are and how they were
    made."""
    data_files = f"configs:\n- config_name: default\n  data_files: {DATA_FILE[to]}\n" if to in DATA_FILE else ""
    fields = Counter(key for record in export.records for key in record)
    counts = {"records": len(export.records), **export.counts}
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
        *(f"- `{key}`" for key in fields),
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
    settings, not every search's)."""
    from metacot.config import SELECTORS

    out = {key: value for key, value in config.items() if key not in SELECTORS}
    for section, selector in SELECTORS.items():
        table = config.get(section, {})
        chosen = table.get(selector)
        plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
        out[section] = {**plain, **({chosen: table[chosen]} if isinstance(table.get(chosen), dict) else {})}
    return out


def _loading(to: str) -> str:
    if to == "hf":
        return 'from datasets import load_from_disk\n\ndataset = load_from_disk("THIS_FOLDER")'
    kind = "json" if to == "jsonl" else "parquet"
    files = f"THIS_FOLDER/{DATA_FILE[to]}"
    return f'from datasets import load_dataset\n\ndataset = load_dataset("{kind}", data_files="{files}")'
