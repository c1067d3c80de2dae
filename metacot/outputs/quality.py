"""Label and pair quality against the truth (outputs.truth): a dataset card's section, and `metacot labels RUN`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from metacot.outputs.labels import check_threshold, label_records
from metacot.outputs.pairs import PairOptions, pair_records
from metacot.outputs.rundir import RunDir
from metacot.outputs.treestats import LABEL_SOURCES, has_values
from metacot.outputs.truth import (
    LABEL_HEADER,
    MC_HEADER,
    PAIR_HEADER,
    Truths,
    check_labels,
    check_pairs,
    label_rows,
    mc_rows,
    pair_rows,
    table,
    undecided_note,
)
from metacot.problems.base import Domain
from metacot.tree import SearchTree

LABELS_ABOUT = (
    "Each labelled step once (a step on several paths counts once), its hard label (soft >= threshold) against the "
    "exact truth: a step is truly good when no step of its path is wrong and a solution can still be reached from "
    "it. Precision of good: the share of good labels on truly good steps; recall of good: the share of truly good "
    "steps labelled good; the same for bad."
)
MC_ABOUT = (
    "The Monte Carlo estimates (successes / rollouts) of the live steps, by their number of rollouts, against the "
    "truth (1: truly good, 0: truly bad): the mean estimate of each, and the truly good steps no rollout solved."
)
PAIRS_ABOUT = (
    "Each pair against the exact truth: chosen truly better (the share of decided pairs whose chosen step or path "
    "is truly good and rejected one truly bad), inverted (the other way round), pairs whose chosen path has a "
    "wrong step (a wrong result or an illegal step), pairs from problems that have no solution, and the texts' "
    "mean lengths (a gap a preference trainer can learn instead of the step's worth)."
)


def label_section(records: Sequence[dict], truths: Truths, domain: Domain, source: str, threshold: float) -> str:
    """A label export's card section: its labels against the truth, by depth; the Monte Carlo table for mc."""
    if not truths.decided:
        return undecided_note(domain)
    parts = [LABELS_ABOUT, table(LABEL_HEADER, label_rows(source, threshold, check_labels(records, truths, threshold)))]
    if source == "mc" and truths.mc:
        parts += [MC_ABOUT, table(MC_HEADER, mc_rows(truths))]
    return "\n\n".join(parts)


def pair_section(records: Sequence[dict], truths: Truths, domain: Domain, source: str) -> str:
    """A pair export's card section: each kind of pair against the truth."""
    if not truths.decided:
        return undecided_note(domain)
    return "\n\n".join([PAIRS_ABOUT, table(PAIR_HEADER, pair_rows(source, check_pairs(records, truths)))])


def run_report(run_dir: str | Path, thresholds: Sequence[float], pairs: PairOptions) -> str:
    """`metacot labels RUN`: every label source the run has values for at each threshold, the Monte Carlo table,
    and the pairs each source gives with the pair options, against the truth."""
    for threshold in thresholds:
        check_threshold(threshold)
    directory = RunDir(run_dir)
    domain = directory.domain()
    truths = Truths()
    trees = list(truths.read(directory.iter_trees(), domain))
    if not truths.decided:
        return undecided_note(domain)
    sources = [s for s in LABEL_SOURCES if has_values(trees, s)]
    label_table, pair_table = [], []
    for source in sources:
        for threshold in thresholds:
            records = _labels(trees, domain, source, threshold)
            label_table += label_rows(source, threshold, check_labels(records, truths, threshold))
        records = [r for tree in trees for r in pair_records(tree, domain, pairs, source)]
        pair_table += pair_rows(source, check_pairs(records, truths))
    parts = [f"# Labels and pairs of {run_dir} against the truth", LABELS_ABOUT, table(LABEL_HEADER, label_table)]
    if truths.mc:
        parts += [MC_ABOUT, table(MC_HEADER, mc_rows(truths))]
    parts += [PAIRS_ABOUT, table(PAIR_HEADER, pair_table)]
    return "\n\n".join(parts) + "\n"


def _labels(trees: list[SearchTree], domain: Domain, source: str, threshold: float) -> list[dict]:
    return [r for tree in trees for r in label_records(tree, domain, source, threshold)]
