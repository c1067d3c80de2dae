"""A run directory: its lock, its manifest, its tree shards written and read, traces, stats; resumable, never losing
or repeating work (the manifest is outputs.manifest's, the shards' reading outputs.shards')."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

import orjson

from metacot.jsonl import bounded_lines
from metacot.outputs.files import (
    TMP_SUFFIX,
    AtomicFile,
    has_unfinished_line,
    naming,
    outermost_missing,
    remove_made,
    repair_jsonl,
    write_json_atomic,
)
from metacot.outputs.ids import ProblemIds
from metacot.outputs.manifest import (
    MANIFEST,
    ProblemSource,
    config_mismatch,
    read_manifest,
    write_new,
    write_resumed,
)
from metacot.outputs.records import Place, RunDirError
from metacot.outputs.shards import STATS, TreeShards, note, shard_index
from metacot.outputs.treeindex import Entry, index_path, read_index, write_index
from metacot.problems import Domain, ProblemsConfig, make_domain
from metacot.problems.config import move_flat_keys
from metacot.tree import SearchTree

LOCK = ".lock"
DRAWS = "draws.jsonl"  # a generator's saved random states (problems.draws), one a line: a resume starts from them


def check_file_name(name: str, what: str) -> None:
    """RunDirError unless `name` is a plain file name (letters, digits, _ . -; not hidden): nothing written under
    it can land outside its folder."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise RunDirError(f"{what} {name!r} is not a plain name (letters, digits, _ . -; no path), e.g. cot")


class RunDir(TreeShards):
    """One synthesis run's directory; open() creates or resumes it, append() adds one finished tree."""

    def __init__(self, path: str | Path, shard_size: int = 10_000):
        if shard_size < 1:
            raise ValueError(f"shard_size must be at least 1, got {shard_size}")
        self.path = Path(path)
        self.shard_size = shard_size
        self.done = ProblemIds()  # problems not to search again (open() returns them)
        self.failed = ProblemIds()  # problems whose latest record is a failed search
        self._lock: IO[bytes] | None = None
        self._made: Path | None = None  # the outermost folder that taking the lock created (discard() removes it)
        self._file: IO[bytes] | None = None
        self._index: IO[bytes] | None = None  # the current shard's index (treeindex)
        self._shard = 0
        self._count = 0  # records in the current shard
        self._size = 0  # bytes in the current shard

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def traces_dir(self) -> Path:
        return self.path / "traces"

    @property
    def stats_path(self) -> Path:
        return self.path / STATS

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
        missing = outermost_missing(self.path)
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
        self._lock, self._made = lock, missing

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
        write_new(self.path, config, config_hash, self._settings, seed, self._source)
        self.trees_dir.mkdir(exist_ok=True)
        self._open_shard(0, 0)

    def _resume(self, config: dict, config_hash: str, seed: int) -> None:
        manifest = self.read_manifest()
        if manifest.get("config_hash") != config_hash or manifest.get("seed") != seed:
            raise config_mismatch(self.path, manifest, self._settings, config_hash, seed, self._source)
        shards = self.shards()
        counts = [self._scan(shard, shard == shards[-1]) for shard in shards]
        self.done -= self.failed
        write_resumed(self.path, manifest, config)
        self.trees_dir.mkdir(exist_ok=True)
        if shards:
            self._open_shard(shard_index(shards[-1]), counts[-1])
        else:
            self._open_shard(0, 0)

    def read_manifest(self) -> dict:
        """The manifest as a dict; RunDirError when it is missing or unreadable."""
        return read_manifest(self.path)

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
            note(entry, self.done, self.failed)
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
        note(entry, self.done, self.failed)
        return place

    def draws(self) -> list[Any]:
        """The generator states saved in the run (add_draw), in order; a line that is not JSON (a write cut short)
        is left out: the generator draws from an earlier state then."""
        path = self.path / DRAWS
        if not path.exists():
            return []
        records = []
        for line in bounded_lines(path, what="a generator state"):
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

    def hold_lock_until_exit(self) -> None:
        """Keep the lock held after close(), until this process exits: a stopped run whose requests are still in
        flight (see metacot.stop) must not let another run start on the directory while they are. A copy of its
        descriptor that no Python object owns holds it: the interpreter's shutdown closes every file object."""
        if self._lock is not None:
            os.dup(self._lock.fileno())

    def discard(self) -> None:
        """Remove the folders that open() created, when no tree has been written into them: a run that fails before
        its first tree (a setting refused late, a cluster not found) leaves nothing behind. Only while holding the
        lock, so never a directory that another process made or writes to."""
        if self._lock is not None and self._made is not None and not (self.done or self.failed):
            shutil.rmtree(self.path, ignore_errors=True)
            remove_made(self.path.parent, self._made)
            self._made = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """Close it; after an error (not a stop: Ctrl-C, SIGTERM), discard() what open() made."""
        try:
            if exc_type is not None and issubclass(exc_type, Exception):
                self.discard()
        finally:
            self.close()

    def traces_path(self, fmt: str) -> Path:
        check_file_name(fmt, f"{self.path}: trace format name")
        return self.traces_dir / f"{fmt}.jsonl"

    def open_traces(self, fmt: str) -> AtomicFile:
        """traces/<fmt>.jsonl, replaced when the returned file is closed without an error (exports; TraceWriter
        appends to the trace files in place)."""
        return AtomicFile(self.traces_path(fmt))

    def write_stats(self, stats: dict) -> Path:
        return write_json_atomic(self.stats_path, stats)
