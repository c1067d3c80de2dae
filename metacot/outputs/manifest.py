"""A run's manifest: what it records when the run is made and at each resume, and why a resume is refused."""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from metacot.outputs.files import write_json_atomic
from metacot.outputs.records import RunDirError

MANIFEST = "manifest.json"
PROBLEMS = "problems.json"  # the problems file a run was made from: its resolved path and each problem's digest
SHOWN_IDS = 5  # problem ids named per kind of change when an edited problems file is refused
VERSIONED = ("metacot", "numpy", "orjson", "networkx")
_MISSING = object()


@dataclass
class ProblemSource:
    """A problems file as a run knows it: its resolved path (for messages) and each problem's content digest."""

    path: str
    digests: dict[str, str]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions() -> dict[str, str]:
    """The versions of Python and the packages that shape the output."""
    return {"python": platform.python_version(), **{name: _version(name) for name in VERSIONED}}


def resumed(path: Path, key: str, identity: dict, error: type[Exception]) -> dict | None:
    """The manifest at `path` when its directory is resumed, checked to hold the same settings under `key` (`error`
    naming the differing keys otherwise); None for a directory not made yet."""
    if not path.exists():
        return None
    manifest = orjson.loads(path.read_bytes())
    differing = differing_keys(manifest.get(key), identity)
    if differing:
        raise error(
            f"{path.parent} holds results of other settings (differing: {', '.join(differing)}); use another --out "
            "or the same settings"
        )
    return manifest


def differing_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts, sorted. A key missing on one side and None on the
    other does not differ: a setting added later, unset by default, leaves the directories made before it resumable."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(old.keys() | new.keys(), key=str)
        pairs = ((old.get(k, _MISSING), new.get(k, _MISSING), f"{prefix}{k}.") for k in keys)
        return [key for a, b, p in pairs for key in differing_keys(a, b, p)]
    unset = old is None and new is _MISSING or old is _MISSING and new is None
    return [] if old == new or unset else [prefix[:-1]]


def _json(obj: Any) -> Any:
    """obj as it reads back from JSON (tuples become lists, numpy numbers plain ones)."""
    return orjson.loads(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY))


def _at(nested: Any, dotted: str) -> Any:
    """The value at a dotted key of nested dicts, None where it is missing."""
    for part in dotted.split("."):
        nested = nested.get(part) if isinstance(nested, dict) else None
    return nested


def read_manifest(run: Path) -> dict:
    """The run's manifest as a dict; RunDirError when it is missing or unreadable."""
    path = run / MANIFEST
    try:
        manifest = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise RunDirError(f"{run} has no {MANIFEST}, so it is not a run directory") from None
    except orjson.JSONDecodeError as e:
        raise RunDirError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise RunDirError(f"{path} is not a JSON object")
    return manifest


def write_new(
    run: Path, config: dict, config_hash: str, settings: dict, seed: int, source: ProblemSource | None
) -> None:
    """The manifest of a new run, and its problems file's digests (`source`) beside it."""
    manifest = {
        "config": config,
        "config_hash": config_hash,
        "settings": settings,
        "seed": seed,
        "versions": versions(),
        "started_at": _now(),
        "resumed_at": [],
    }
    if source is not None:
        manifest["problems_file"] = source.path
        write_json_atomic(run / PROBLEMS, dataclasses.asdict(source))
    write_json_atomic(run / MANIFEST, manifest)


def write_resumed(run: Path, manifest: dict, config: dict) -> None:
    """The manifest with this resume's time, and the settings outside the hash (transport, linearize) that it changed
    from "config"."""
    now = _now()
    manifest["resumed_at"] = [*manifest.get("resumed_at", []), now]
    new = _json(config)
    keys = differing_keys(manifest.get("config"), new)
    if keys:
        values = {key: _at(new, key) for key in keys}
        manifest["config_changes"] = [*manifest.get("config_changes", []), {"at": now, "settings": values}]
    write_json_atomic(run / MANIFEST, manifest)


def config_mismatch(
    run: Path, manifest: dict, settings: dict, config_hash: str, seed: int, source: ProblemSource | None
) -> RunDirError:
    """Why the run cannot be resumed with these settings: the keys that differ, and the problems file's edits."""
    keys = differing_keys(manifest.get("settings", manifest.get("config")), _json(settings))
    if manifest.get("seed") != seed and "seed" not in keys:
        keys.append("seed")
    return RunDirError(
        f"{run} was made with a different config "
        f"(hash {manifest.get('config_hash')} vs {config_hash}); "
        f"differing keys: {', '.join(keys) or 'none found, only the hash'}. {_problem_changes(run, source)}"
        "Use a new --out directory or the same config."
    )


def _problem_changes(run: Path, source: ProblemSource | None) -> str:
    """What changed in the problems file since the run was made (a sentence), or "" when that is unknown."""
    try:
        old = orjson.loads((run / PROBLEMS).read_bytes())
        before, path = old["digests"], old["path"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return ""
    if source is None or before == source.digests:
        return ""
    now = source.digests
    kinds = {
        "changed": [i for i in now if i in before and before[i] != now[i]],
        "added": [i for i in now if i not in before],
        "removed": [i for i in before if i not in now],
    }
    parts = [f"{kind} {_some(ids)}" for kind, ids in kinds.items() if ids] or ["reordered"]
    return f"The problems file ({path}, now {source.path}) was edited: {'; '.join(parts)}. "


def _some(ids: list[str]) -> str:
    """The first few ids, and how many more."""
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return ", ".join(ids[:SHOWN_IDS]) + more
