"""What a run writes: the resumable run directory and atomic JSON/JSONL writers."""

from __future__ import annotations

from metacot.outputs.files import AtomicFile, write_json_atomic
from metacot.outputs.rundir import RunDir, RunDirError

__all__ = ["AtomicFile", "RunDir", "RunDirError", "write_json_atomic"]
