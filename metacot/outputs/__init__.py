"""What a run writes: the resumable run directory and atomic JSON/JSONL writers."""

from __future__ import annotations

from metacot.outputs.rundir import AtomicFile, RunDir, RunDirError, write_json_atomic

__all__ = ["AtomicFile", "RunDir", "RunDirError", "write_json_atomic"]
