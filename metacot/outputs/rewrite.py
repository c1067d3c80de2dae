"""Rewriting a run's trace files from its trees: refused when the shards lack trees the run has counted, and the old
files put back when the rewrite fails (a damaged tree, a stop, a full disk) instead of left half written."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from metacot.outputs.files import TMP_SUFFIX
from metacot.outputs.rundir import RunDir, RunDirError
from metacot.outputs.traces import STATE, Written


def check_trees(directory: RunDir) -> None:
    """RunDirError unless the shards hold a tree, and as many as stats.json and traces/.state.json count (a trees/
    folder moved away or cut short would otherwise rewrite the traces without them)."""
    if not directory.check_held():
        raise RunDirError(f"{directory.trees_dir}: no tree records (trees-*.jsonl): moved or deleted?")
    Written.read(directory)  # RunDirError when the state counts trees the shards do not hold


@contextmanager
def rewriting(directory: RunDir, formats: list[str]) -> Iterator[None]:
    """Check the trees (check_trees), then set the formats' trace files and the trace state aside, hidden beside
    them (.<name>.<random>.tmp, which the run's next writer removes if this process is killed); put them back if
    the body fails, and remove them when it succeeds."""
    check_trees(directory)
    token = secrets.token_hex(4)
    paths = [directory.traces_path(fmt) for fmt in formats] + [directory.traces_dir / STATE]
    aside: dict[Path, Path | None] = {}
    try:
        for path in paths:
            hidden = path.with_name(f".{path.name}.{token}{TMP_SUFFIX}") if path.exists() else None
            if hidden is not None:
                os.replace(path, hidden)
            aside[path] = hidden
        yield
    except BaseException:
        for path, aside_as in aside.items():
            if aside_as is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(aside_as, path)
        raise
    for aside_as in aside.values():
        if aside_as is not None:
            aside_as.unlink()
