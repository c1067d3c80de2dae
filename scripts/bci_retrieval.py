"""How retrieval picks a Countdown problem's behaviours from the built-in handbook, measured on a run's problems.

For each retrieval mode (features, topic, embedding): the share of problems whose behaviours differ from the most
common set; of the behaviours retrieved, the share that apply (the problem has a feature the behaviour is tagged
with) and the share that help (a search conditioned on that behaviour alone solves the problem), beside the same
shares over every behaviour of the handbook; and the problems solved conditioned on the top K. Every search is a
`metacot synth` run into OUT with the flags given after `--`:

    python scripts/bci_retrieval.py /tmp/retrieval -- --search best_of_n --num-problems 150 --seed 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from metacot.behaviors.handbook.bci import condition
from metacot.behaviors.handbook.entries import builtin_handbook, load_handbook, save_handbook
from metacot.behaviors.handbook.retrieval import off_mode_share
from metacot.cli import main
from metacot.conditioning import BehaviorsConfig
from metacot.outputs.rundir import RunDir
from metacot.problems.countdown import CountdownDomain

MODES = ("features", "topic", "embedding")


def solved(out: Path, flags: list[str]) -> set[str]:
    """The problems a `metacot synth` run into `out` with these flags solves (an existing run is resumed)."""
    if main(["synth", "--out", str(out), "--no-progress", *flags]) != 0:
        raise SystemExit(f"synth into {out} failed")
    return {tree.problem_id for tree in RunDir(out).iter_trees() if tree.solved}


def share(hits: list[bool]) -> str:
    return f"{sum(hits) / max(len(hits), 1):.0%}"


def report(out: Path, flags: list[str]) -> list[str]:
    domain, entries = CountdownDomain(), load_handbook(builtin_handbook("countdown"))
    plain = solved(out / "plain", flags)
    problems = [domain.problem_from_dict(t.problem) for t in RunDir(out / "plain").iter_trees()]
    alone = {}
    for entry in entries:
        handbook = save_handbook([entry], out / f"{entry.name}.jsonl")
        alone[entry.name] = solved(out / f"alone-{entry.name}", [*flags, "--behaviors", str(handbook)])
    tags = {e.name: set(e.tags) for e in entries}
    features = {p.id: set(domain.features(p)) for p in problems}

    def rates(pairs: list[tuple[str, str]]) -> tuple[str, str]:
        """Of these (problem, behaviour) pairs: the share that apply, and the share that help."""
        return share([bool(tags[n] & features[i]) for i, n in pairs]), share([i in alone[n] for i, n in pairs])

    applies, helps = rates([(p.id, e.name) for p in problems for e in entries])
    lines = [
        f"{len(problems)} problems, {len(plain)} solved unconditioned; of every behaviour on every problem: "
        f"{applies} apply, {helps} help",
        "| retrieval | problems off the most common set | retrieved that apply | retrieved that help | solved |",
        "|---|---|---|---|---|",
    ]
    for mode in MODES:
        made = condition(domain, problems, BehaviorsConfig(handbook="builtin", retrieve=mode))
        rows = {p.id: list(made[p.id].behaviors) for p in problems}
        applies, helps = rates([(i, n) for i, row in rows.items() for n in row])
        bci = solved(out / f"bci-{mode}", [*flags, "--behaviors", "builtin", "--retrieve", mode])
        varied = off_mode_share(list(rows.values()))
        lines.append(f"| {mode} | {varied:.0%} | {applies} | {helps} | {len(bci)} / {len(problems)} |")
    return lines


def parse_args(argv: list[str]) -> tuple[Path, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where the runs go (resumed when there)")
    parser.add_argument("flags", nargs=argparse.REMAINDER, help="`metacot synth` flags, after --")
    args = parser.parse_args(argv)
    return args.out, [f for f in args.flags if f != "--"]


if __name__ == "__main__":
    out, flags = parse_args(sys.argv[1:])
    print("\n".join(report(out, flags)))
