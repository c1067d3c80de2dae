"""Memory benchmark: a synth's peak RSS and wall time by the number of problems, and those of its no-op resume and
of the commands that read the whole run.

Each synth runs in a child process (its own peak RSS, from os.wait4) on generated Countdown problems with the
symbolic policy and the oracle PRM, in a temporary run directory; the same command is then run again on it: a resume
with nothing left to search. With readers, each reading command (READERS) then runs on the run the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

# The commands that read a whole run (after `metacot CMD RUN_DIR`): each reads the trees one at a time, so that its
# peak RSS stays flat in the number of trees.
READERS = {
    "export --pairs": ["export", "--pairs", "--overwrite"],
    "export --objective": ["export", "--objective", "on_path", "--overwrite"],
    "export --prm-labels": ["export", "--prm-labels", "--overwrite"],
    "audit --format metacot": ["audit", "--format", "metacot"],
    "prime": ["prime", "--variant", "all_strategies"],
    "behaviors": ["behaviors"],
}
# Commands whose exit code 1 with nothing on stderr reports what they found (audit: a false claim, a reader's
# violation), not a failure: the figure still stands.
FINDINGS = {"audit"}


@dataclass
class MemoryFigures:
    """One size: the synth, then the same command again (nothing left to search); each reader's peak RSS in MB and
    wall seconds on the run, when asked for."""

    problems: int
    peak_rss_mb: float
    seconds: float
    resume_peak_rss_mb: float
    resume_seconds: float
    readers: dict[str, tuple[float, float]] = field(default_factory=dict)


def bench_memory(
    sizes: list[int], synth_flags: list[str] | None = None, readers: bool = False
) -> list[MemoryFigures]:
    """A synth of each number of problems and its no-op resume, then with `readers` each reader on the run;
    `synth_flags`: more `metacot synth` flags."""
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--problems must be one or more positive counts, got {sizes}")
    figures = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "metacot.cli", "synth", "--out", out, "--no-progress"]
            command += ["--num-problems", str(size), *(synth_flags or [])]
            rss, seconds = run_measured(command)
            resume_rss, resume_seconds = run_measured(command)
            read = bench_readers(out) if readers else {}
        figures.append(MemoryFigures(size, rss, seconds, resume_rss, resume_seconds, read))
    return figures


def bench_readers(run_dir: str) -> dict[str, tuple[float, float]]:
    """Each reader's peak RSS in MB and wall seconds on the run at `run_dir`, each in a child process."""
    base = [sys.executable, "-m", "metacot.cli"]
    return {
        name: run_measured([*base, cmd, run_dir, *args, "--no-progress"], cmd in FINDINGS)
        for name, (cmd, *args) in READERS.items()
    }


def run_measured(command: list[str], finds: bool = False) -> tuple[float, float]:
    """Run a command; its peak RSS in MB and its wall seconds. RuntimeError with its output if it fails (with
    `finds`, an exit code 1 and nothing on stderr is what it found, not a failure)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    errors = child.stderr.read()  # read before waiting: a full pipe would block the child
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    seconds = time.perf_counter() - started
    found = finds and child.returncode == 1 and not errors.strip()
    if child.returncode != 0 and not found:
        raise RuntimeError(f"{' '.join(command)} exited {child.returncode}: {errors.decode(errors='replace')}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def format_table(figures: list[MemoryFigures]) -> str:
    rows = [f"{'problems':>9} {'peak RSS':>9} {'seconds':>8} {'resume RSS':>11} {'resume s':>9}"]
    for f in figures:
        rows.append(
            f"{f.problems:9d} {f.peak_rss_mb:7.0f}MB {f.seconds:8.1f} {f.resume_peak_rss_mb:9.0f}MB "
            f"{f.resume_seconds:9.2f}"
        )
    if len(figures) > 1:
        rows.append(f"peak RSS, largest over smallest: {figures[-1].peak_rss_mb / figures[0].peak_rss_mb:.2f}x")
    if figures[0].readers:
        rows += ["", readers_table(figures)]
    return "\n".join(rows)


def readers_table(figures: list[MemoryFigures]) -> str:
    """Per reader, its peak RSS (and wall seconds) at each size, and the largest size's RSS over the smallest's."""
    width = max(len(name) for name in figures[0].readers)
    head = "".join(f" {f'{f.problems} trees':>17}" for f in figures)
    rows = [f"{'reader':<{width}}{head} {'largest/smallest':>17}"]
    for name in figures[0].readers:
        cells = "".join(f" {f.readers[name][0]:7.0f}MB ({f.readers[name][1]:5.1f}s)" for f in figures)
        ratio = figures[-1].readers[name][0] / figures[0].readers[name][0]
        rows.append(f"{name:<{width}}{cells} {ratio:16.2f}x")
    return "\n".join(rows)
