"""A run directory: manifest, tree shards, traces, stats; resumable, never losing or repeating work.

Tree shards are append-only. A problem has at most one finished record, but a failed search (a backend error) may
be followed by later records of the same problem, its retries: the latest record of a problem is its tree.
"""

from __future__ import annotations

import dataclasses
import fcntl
import platform
import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import orjson

from metacot.outputs.files import (
    TMP_SUFFIX,
    AtomicFile,
    has_unfinished_line,
    naming,
    repair_jsonl,
    write_json_atomic,
)
from metacot.outputs.ids import ProblemIds
from metacot.outputs.records import Place, RunDirError, placed_records, read_at
from metacot.outputs.treeindex import Entry, index_path, read_index, write_index
from metacot.problems import Domain, ProblemsConfig, make_domain
from metacot.problems.config import move_flat_keys
from metacot.tree import SearchTree

MANIFEST = "manifest.json"
PROBLEMS = "problems.json"  # the problems file a run was made from: its resolved path and each problem's digest
DRAWS = "draws.jsonl"  # a generator's saved random states (problems.draws), one a line: a resume starts from them
SHOWN_IDS = 5  # problem ids named per kind of change when an edited problems file is refused


@dataclass
class ProblemSource:
    """A problems file as a run knows it: its resolved path (for messages) and each problem's content digest."""

    path: str
    digests: dict[str, str]


LOCK = ".lock"
SHARD = re.compile(r"trees-(\d+)\.jsonl")


def shard_index(path: Path) -> int:
    """The number in a shard's name: trees-00012.jsonl -> 12."""
    return int(path.stem.split("-")[1])


VERSIONED = ("metacot", "numpy", "orjson", "networkx")
_MISSING = object()


def _some(ids: list[str]) -> str:
    """The first few ids, and how many more."""
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return ", ".join(ids[:SHOWN_IDS]) + more


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


def differing_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts, sorted."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(old.keys() | new.keys(), key=str)
        pairs = ((old.get(k, _MISSING), new.get(k, _MISSING), f"{prefix}{k}.") for k in keys)
        return [key for a, b, p in pairs for key in differing_keys(a, b, p)]
    return [] if old == new else [prefix[:-1]]


def _json(obj: Any) -> Any:
    """obj as it reads back from JSON (tuples become lists, numpy numbers plain ones)."""
    return orjson.loads(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY))


def _at(nested: Any, dotted: str) -> Any:
    """The value at a dotted key of nested dicts, None where it is missing."""
    for part in dotted.split("."):
        nested = nested.get(part) if isinstance(nested, dict) else None
    return nested


def _note(entry: Entry, done: ProblemIds, failed: ProblemIds) -> None:
    """Note a record as its problem's latest: in `done`, and in `failed` exactly when its search failed."""
    done.add(entry.problem_id)
    if entry.failed:
        failed.add(entry.problem_id)
    else:
        failed.discard(entry.problem_id)


def check_file_name(name: str, what: str) -> None:
    """RunDirError unless `name` is a plain file name (letters, digits, _ . -; not hidden): nothing written under
    it can land outside its folder."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise RunDirError(f"{what} {name!r} is not a plain name (letters, digits, _ . -; no path), e.g. cot")


class RunDir:
    """One synthesis run's directory; open() creates or resumes it, append() adds one finished tree."""

    def __init__(self, path: str | Path, shard_size: int = 10_000):
        if shard_size < 1:
            raise ValueError(f"shard_size must be at least 1, got {shard_size}")
        self.path = Path(path)
        self.shard_size = shard_size
        self.done = ProblemIds()  # problems not to search again (open() returns them)
        self.failed = ProblemIds()  # problems whose latest record is a failed search
        self._lock: IO[bytes] | None = None
        self._file: IO[bytes] | None = None
        self._index: IO[bytes] | None = None  # the current shard's index (treeindex)
        self._shard = 0
        self._count = 0  # records in the current shard
        self._size = 0  # bytes in the current shard

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def trees_dir(self) -> Path:
        return self.path / "trees"

    @property
    def traces_dir(self) -> Path:
        return self.path / "traces"

    @property
    def stats_path(self) -> Path:
        return self.path / "stats.json"

    def shard_path(self, index: int) -> Path:
        return self.trees_dir / f"trees-{index:05d}.jsonl"

    def shards(self) -> list[Path]:
        """The tree shard files in order."""
        if not self.trees_dir.is_dir():
            return []
        found = [(int(m[1]), p) for p in self.trees_dir.iterdir() if (m := SHARD.fullmatch(p.name))]
        return [p for _, p in sorted(found)]

    def open(
        self,
        config: dict,
        config_hash: str,
        seed: int,
        settings: dict | None = None,
        retry_failed: bool = True,
        source: ProblemSource | None = None,
    ) -> ProblemIds:
        """Create the directory or resume it; return the problem ids not to search again: those finished, and
        those whose search failed unless `retry_failed` (their new trees supersede the failed ones).

        `settings` is the part of `config` the hash covers (default: all of it); a mismatch names its keys. The
        rest (how backends are reached, how traces are written) may change on a resume: the manifest records it.
        `source`: the problems file, recorded on creation so that a refused edit names the problems it changed.
        """
        self._settings = config if settings is None else settings
        self._source = source
        if self._file is not None:
            raise RunDirError(f"{self.path} is already open")
        self.done, self.failed = ProblemIds(), ProblemIds()
        self._check_usable()
        self._acquire_lock()
        try:
            self._remove_stale_temp_files()
            if self.manifest_path.exists():
                self._resume(config, config_hash, seed)
            else:
                self._create(config, config_hash, seed)
        except BaseException:
            self.close()
            raise
        if not retry_failed:
            self.done |= self.failed
        return self.done.copy()

    def _check_usable(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path} exists and is not a directory")
        if self.manifest_path.exists() or not self.path.exists():
            return
        strays = [p.name for p in self.path.iterdir() if p.name != LOCK and not p.name.endswith(TMP_SUFFIX)]
        if strays:
            raise RunDirError(
                f"{self.path} is not empty and has no {MANIFEST}, so it is not a run directory "
                f"(it holds {', '.join(sorted(strays)[:5])}); refusing to write into it. "
                "Use a new --out directory."
            )

    def _acquire_lock(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        lock = (self.path / LOCK).open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise RunDirError(
                f"{self.path} is in use by another metacot process (a synth still running?); "
                "wait for it to finish, or use a new --out"
            ) from None
        self._lock = lock

    def lock(self) -> RunDir:
        """Take the run's lock without opening it for new trees: for commands that rewrite a finished run's traces
        or exports (linearize, export), so that they never write while a synth does. close() releases it."""
        self.read_manifest()  # an existing run directory, not a path to create
        self._acquire_lock()
        for shard in self.shards():  # a run from before the indexes, or one killed between the two writes
            entries, exact = read_index(shard)
            if not exact:
                write_index(shard, entries)
        return self

    def _remove_stale_temp_files(self) -> None:
        """Remove what AtomicFile writes before it renames (.<name>.<random>.tmp): only the lock holder writes
        them, so any found now were left by a process that stopped before it finished."""
        for folder in (self.path, self.traces_dir, self.trees_dir):
            if folder.is_dir():
                for stale in folder.glob(f".*{TMP_SUFFIX}"):
                    stale.unlink(missing_ok=True)

    def _create(self, config: dict, config_hash: str, seed: int) -> None:
        manifest = {
            "config": config,
            "config_hash": config_hash,
            "settings": self._settings,
            "seed": seed,
            "versions": versions(),
            "started_at": _now(),
            "resumed_at": [],
        }
        if self._source is not None:
            manifest["problems_file"] = self._source.path
            write_json_atomic(self.path / PROBLEMS, dataclasses.asdict(self._source))
        write_json_atomic(self.manifest_path, manifest)
        self.trees_dir.mkdir(exist_ok=True)
        self._open_shard(0, 0)

    def _resume(self, config: dict, config_hash: str, seed: int) -> None:
        manifest = self.read_manifest()
        if manifest.get("config_hash") != config_hash or manifest.get("seed") != seed:
            raise self._config_mismatch(manifest, config_hash, seed)
        shards = self.shards()
        counts = [self._scan(shard, shard == shards[-1]) for shard in shards]
        self.done -= self.failed
        now = _now()
        manifest["resumed_at"] = [*manifest.get("resumed_at", []), now]
        new = _json(config)
        keys = differing_keys(manifest.get("config"), new)
        if keys:  # settings outside the hash (transport, linearize) that this resume changed from "config"
            values = {key: _at(new, key) for key in keys}
            manifest["config_changes"] = [*manifest.get("config_changes", []), {"at": now, "settings": values}]
        write_json_atomic(self.manifest_path, manifest)
        self.trees_dir.mkdir(exist_ok=True)
        if shards:
            self._open_shard(shard_index(shards[-1]), counts[-1])
        else:
            self._open_shard(0, 0)

    def read_manifest(self) -> dict:
        """The manifest as a dict; RunDirError when it is missing or unreadable."""
        try:
            manifest = orjson.loads(self.manifest_path.read_bytes())
        except FileNotFoundError:
            raise RunDirError(f"{self.path} has no {MANIFEST}, so it is not a run directory") from None
        except orjson.JSONDecodeError as e:
            raise RunDirError(f"{self.manifest_path} is not valid JSON ({e})") from None
        if not isinstance(manifest, dict):
            raise RunDirError(f"{self.manifest_path} is not a JSON object")
        return manifest

    def domain(self) -> Domain:
        """The run's domain, rebuilt from the manifest with its section's settings (old flat layouts read too)."""
        from metacot.config import from_dict  # the config module imports every backend's settings: only when used

        try:
            table = self.read_manifest()["config"]["problems"]
        except (KeyError, TypeError):
            raise RunDirError(f"{self.manifest_path} has no config.problems table") from None
        where = f"{self.manifest_path}: config.problems"
        try:
            table, _ = move_flat_keys(table, where)  # a run from before the per-domain sections: no warning
            return make_domain(from_dict(ProblemsConfig, table, where))
        except ValueError as error:
            raise RunDirError(str(error)) from None

    def _config_mismatch(self, manifest: dict, config_hash: str, seed: int) -> RunDirError:
        new = _json(self._settings)
        keys = differing_keys(manifest.get("settings", manifest.get("config")), new)
        if manifest.get("seed") != seed and "seed" not in keys:
            keys.append("seed")
        return RunDirError(
            f"{self.path} was made with a different config "
            f"(hash {manifest.get('config_hash')} vs {config_hash}); "
            f"differing keys: {', '.join(keys) or 'none found, only the hash'}. {self._problem_changes()}"
            "Use a new --out directory or the same config."
        )

    def _problem_changes(self) -> str:
        """What changed in the problems file since the run was made (a sentence), or "" when that is unknown."""
        try:
            old = orjson.loads((self.path / PROBLEMS).read_bytes())
            before, path = old["digests"], old["path"]
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            return ""
        if self._source is None or before == self._source.digests:
            return ""
        now = self._source.digests
        kinds = {
            "changed": [i for i in now if i in before and before[i] != now[i]],
            "added": [i for i in now if i not in before],
            "removed": [i for i in before if i not in now],
        }
        parts = [f"{kind} {_some(ids)}" for kind, ids in kinds.items() if ids] or ["reordered"]
        return f"The problems file ({path}, now {self._source.path}) was edited: {'; '.join(parts)}. "

    def _scan(self, shard: Path, last: bool) -> int:
        """Repair an unfinished last write, note each problem's latest record (in done, and in failed when it is a
        failed search); return the count. Only a failed search may be followed by another record. The records are
        known from the shard's index, and the shard is read only past what the index covers (then the index is
        rewritten)."""
        if not last and has_unfinished_line(shard):
            raise RunDirError(f"{shard} ends in an unterminated line but is not the last shard")
        repair_jsonl(shard)
        entries, exact = read_index(shard)
        for lineno, entry in enumerate(entries, 1):
            if entry.problem_id in self.done and entry.problem_id not in self.failed:
                raise RunDirError(f"{shard}:{lineno} repeats problem id {entry.problem_id!r}")
            _note(entry, self.done, self.failed)
        if not exact:
            write_index(shard, entries)
        return len(entries)

    def _open_shard(self, index: int, count: int) -> None:
        path = self.shard_path(index)
        self._file = path.open("ab")
        self._index = index_path(path).open("ab")
        self._shard, self._count, self._size = index, count, path.stat().st_size

    def append(self, tree: SearchTree) -> Place:
        """Write one finished tree as one line; where it lies. A problem is written once per directory, or again
        after a failed search (the new record supersedes it)."""
        if self._file is None:
            raise RunDirError(f"{self.path} is not open; call open() first")
        if tree.problem_id in self.done:
            raise RunDirError(f"{self.path} already holds a tree for problem id {tree.problem_id!r}")
        line = orjson.dumps(tree.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        if self._count >= self.shard_size:
            self._close_shard()
            self._open_shard(self._shard + 1, 0)
        shard, file, index = self.shard_path(self._shard), self._file, self._index
        assert file is not None and index is not None
        place = Place(shard.name, self._size, self._size + len(line))
        self._write(file, line, shard)
        self._size += len(line)
        entry = Entry(tree.problem_id, place, tree.failed is not None)
        self._write(index, entry.line(), index_path(shard))
        self._count += 1
        _note(entry, self.done, self.failed)
        return place

    def finished(self) -> int:
        """How many problems' latest records are finished (not failed) searches, counted from the shards as they
        are: a signal may stop append() after its writes and before its bookkeeping."""
        latest, failed = ProblemIds(), ProblemIds()
        for entry in self.entries():
            _note(entry, latest, failed)
        return len(latest) - len(failed)

    def draws(self) -> list[Any]:
        """The generator states saved in the run (add_draw), in order; a line that is not JSON (a write cut short)
        is left out: the generator draws from an earlier state then."""
        try:
            lines = (self.path / DRAWS).read_bytes().splitlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            with suppress(orjson.JSONDecodeError):
                records.append(orjson.loads(line))
        return records

    def add_draw(self, record: dict) -> None:
        """Save one generator state (a record of problems.draws) for later resumes; the run must be open."""
        if self._file is None:
            raise RunDirError(f"{self.path} is not open; call open() first")
        path = self.path / DRAWS
        with path.open("ab") as file:
            self._write(file, orjson.dumps(record) + b"\n", path)

    def _write(self, file: IO[bytes], line: bytes, path: Path) -> None:
        """One whole line, flushed; on an error the run is closed (the file may end in a partial line now: open()
        repairs a shard's, and an index is trusted only as far as its shard)."""
        try:
            file.write(line)
            file.flush()
        except OSError as error:  # a full disk: the error names no file
            with suppress(OSError):  # closing flushes the same unwritten bytes again
                self.close()
            raise naming(error, path) from error
        except BaseException:
            self.close()
            raise

    def _close_shard(self) -> None:
        file, index = self._file, self._index
        self._file = self._index = None
        try:
            if file is not None:
                file.close()
        finally:
            if index is not None:
                index.close()

    def close(self) -> None:
        lock, self._lock = self._lock, None
        try:
            self._close_shard()
        finally:
            if lock is not None:
                lock.close()  # releases the flock

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def shard_sizes(self) -> dict[str, int]:
        """Each shard's name and size in bytes: what a reader has seen of the shards (they only grow)."""
        return {shard.name: shard.stat().st_size for shard in self.shards()}

    def records_after(self, seen: dict[str, int] | None = None) -> Iterator[tuple[Place, dict]]:
        """Each tree record in shard order with where it lies, skipping the first `seen[name]` bytes of each shard
        named there."""
        seen = seen or {}
        for shard in self.shards():
            yield from placed_records(shard, seen.get(shard.name, 0))

    def entries(self) -> Iterator[Entry]:
        """Each tree record's problem id, place and failure, in shard order, from the shards' indexes (and the shard
        bytes they do not cover): no tree is read."""
        for shard in self.shards():
            yield from read_index(shard)[0]

    def tree_of(self, problem_id: str) -> SearchTree | None:
        """The problem's tree (its latest record), read alone: the indexes say where it lies; None if none."""
        place = None
        for entry in self.entries():
            if entry.problem_id == problem_id:
                place = entry.place
        return None if place is None else self.tree_at(place)

    def tree_at(self, place: Place) -> SearchTree:
        """The tree whose record lies at `place` (append and records_after say where)."""
        return SearchTree.from_dict(read_at(self.trees_dir / place.file, place.start))

    def iter_trees(self, seen: dict[str, int] | None = None) -> Iterator[SearchTree]:
        """Each problem's tree once, in one pass: the latest record of each problem, in shard order then line
        order, except that a failed search is held back until no later record can supersede it (those that no
        retry replaced come last). `seen`: bytes of each shard already read (records_after)."""
        held: dict[str, SearchTree] = {}
        for _, record in self.records_after(seen):
            tree = SearchTree.from_dict(record)
            held.pop(tree.problem_id, None)
            if tree.failed is None:
                yield tree
            else:
                held[tree.problem_id] = tree
        yield from held.values()

    def traces_path(self, fmt: str) -> Path:
        check_file_name(fmt, f"{self.path}: trace format name")
        return self.traces_dir / f"{fmt}.jsonl"

    def open_traces(self, fmt: str) -> AtomicFile:
        """traces/<fmt>.jsonl, replaced when the returned file is closed without an error (exports; TraceWriter
        appends to the trace files in place)."""
        return AtomicFile(self.traces_path(fmt))

    def write_stats(self, stats: dict) -> Path:
        return write_json_atomic(self.stats_path, stats)
