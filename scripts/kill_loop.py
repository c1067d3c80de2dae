"""kill -9 a `metacot synth` at random moments, resuming each time, and check that nothing was lost or repeated.

    python scripts/kill_loop.py --kills 50 --problems 2000   # from the repository root

It first makes a reference run without interruptions, then runs the same command into another directory, killing
it with SIGKILL at seeded random moments (a moment is a random amount of new tree bytes, spread over the work
left, or now and then a random time from the start, which can land in the imports or the resume's re-read) and
starting it again, until it has been killed --kills times; then it lets it finish. The checks: every problem id
exactly once in the trees and in every trace file, the trace files byte-identical to the reference run's, and no
file left in the run directory beyond those a finished run has (no temp files). tests/test_kill_loop.py runs it
with 5 kills.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
EARLY_KILLS = 0.25  # the share of kills at a random time from the start rather than after new trees
EARLY_SECONDS = 1.0  # those land within this many seconds of the start
POLL_SECONDS = 0.002
FINISHED = re.compile(  # the files of a finished run; any other is a stray
    r"manifest\.json|problems\.json|draws\.jsonl|stats\.json|\.lock|trees/trees-\d+\.(jsonl|idx)|traces/(\.state\.json|\w[^/]*\.jsonl)"
)


@dataclass
class Outcome:
    """What a kill loop did: kills that landed, runs that finished before their kill, and what the checks found."""

    kills: int = 0
    finished_early: int = 0
    kill_seconds: list[float] = field(default_factory=list)
    problems: int = 0
    errors: list[str] = field(default_factory=list)


def synth_command(out: Path, problems: int, extra: list[str]) -> list[str]:
    args = ["synth", "--out", str(out), "--no-progress", "--num-problems", str(problems), *extra]
    return [sys.executable, "-m", "metacot.cli", *args]


def run(command: list[str]) -> None:
    """Run a synth to the end; RuntimeError with its stderr if it fails."""
    done = subprocess.run(command, env=_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def tree_bytes(out: Path) -> int:
    trees = out / "trees"
    return sum(p.stat().st_size for p in trees.glob("trees-*.jsonl")) if trees.is_dir() else 0


def kill_once(command: list[str], out: Path, total: int, kills_left: int, rng: random.Random) -> float | None:
    """Start the command and SIGKILL it at a random moment; the seconds from its start to the kill, or None if it
    finished first. `total`: the tree bytes a finished run holds, to spread the kills over the work left."""
    early = rng.random() < EARLY_KILLS
    before = tree_bytes(out)
    target = before + rng.uniform(0, 2 * (total - before) / (kills_left + 1))
    deadline = rng.uniform(0, EARLY_SECONDS)
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started = time.monotonic()
    while process.poll() is None:
        elapsed = time.monotonic() - started
        if (early and elapsed >= deadline) or (not early and tree_bytes(out) >= target):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(POLL_SECONDS)
    _, err = process.communicate()
    if process.returncode == -signal.SIGKILL:
        return time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"synth exited {process.returncode} before its kill: {err.decode().strip()}")
    return None


def jsonl_ids(path: Path) -> list[str]:
    return [orjson.loads(line)["problem_id"] for line in path.read_bytes().splitlines()]


def check(out: Path, reference: Path, problems: int) -> list[str]:
    """What is wrong with a killed-and-resumed run, compared with the reference: [] when nothing."""
    errors = []
    ids = [i for shard in sorted((out / "trees").glob("trees-*.jsonl")) for i in jsonl_ids(shard)]
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        errors.append(f"trees repeat problem ids {repeated[:5]}")
    if sorted(set(ids)) != [f"countdown-{i:06d}" for i in range(problems)]:
        errors.append(f"trees hold {len(set(ids))} distinct problems, not the {problems} asked for")
    for theirs in sorted((reference / "traces").glob("*.jsonl")):
        ours = out / "traces" / theirs.name
        if not ours.exists():
            errors.append(f"traces/{theirs.name} is missing")
            continue
        trace_ids = jsonl_ids(ours)
        if len(trace_ids) != len(set(trace_ids)):
            errors.append(f"traces/{theirs.name} repeats problem ids")
        if ours.read_bytes() != theirs.read_bytes():
            errors.append(f"traces/{theirs.name} differs from the uninterrupted run's")
    if not errors and not (out / "traces" / ".state.json").exists():
        errors.append("traces/.state.json is missing")
    strays = [p for p in out.rglob("*") if p.is_file() and not FINISHED.fullmatch(p.relative_to(out).as_posix())]
    if strays:
        errors.append(f"stray files: {', '.join(sorted(str(p.relative_to(out)) for p in strays)[:5])}")
    return errors


def kill_loop(workdir: Path, problems: int, kills: int, seed: int = 0, extra: list[str] | None = None) -> Outcome:
    """The reference run and the killed one under workdir; the outcome of the checks."""
    extra = extra or []
    reference, out = workdir / "reference", workdir / "killed"
    run(synth_command(reference, problems, extra))
    command = synth_command(out, problems, extra)
    total = tree_bytes(reference)
    rng = random.Random(seed)
    outcome = Outcome(problems=problems)
    while outcome.kills < kills:
        seconds = kill_once(command, out, total, kills - outcome.kills, rng)
        if seconds is None:
            outcome.finished_early += 1
        else:
            outcome.kills += 1
            outcome.kill_seconds.append(seconds)
    run(command)
    outcome.errors = check(out, reference, problems)
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs that land before the run is let finish")
    parser.add_argument("--problems", type=int, default=2000, help="Countdown problems in the run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--workdir", type=Path, default=Path("runs/kill_loop"), help="where both runs go (emptied)")
    parser.add_argument("synth_args", nargs="*", help="more synth flags, after --, e.g. -- --concurrency 8")
    args = parser.parse_args()
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    started = time.monotonic()
    outcome = kill_loop(args.workdir, args.problems, args.kills, args.seed, args.synth_args)
    seconds = sorted(outcome.kill_seconds)
    print(
        f"{outcome.kills} kills ({outcome.finished_early} runs finished before their kill), {args.problems} problems, "
        f"kill moments {seconds[0]:.2f}..{seconds[-1]:.2f} s after start; {time.monotonic() - started:.0f} s in all"
    )
    for error in outcome.errors:
        print(f"FAILED: {error}")
    if not outcome.errors:
        print("ok: every problem once in the trees and every trace file, traces identical, no stray files")
    return 1 if outcome.errors else 0


if __name__ == "__main__":
    sys.exit(main())
