"""Label and pair quality against the truth (outputs.truth): a dataset card's section, and `metacot labels RUN`."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

from metacot.outputs.labels import CONSENSUS, LabelRule, Tally, check_threshold, label_records
from metacot.outputs.omega import OMEGA_HEADER, omega_rows
from metacot.outputs.pairs import PairOptions, pair_records
from metacot.outputs.rundir import RunDir
from metacot.outputs.treestats import LABEL_SOURCES, has_values
from metacot.outputs.truth import (
    LABEL_HEADER,
    MC_HEADER,
    PAIR_HEADER,
    LabelCheck,
    PairCheck,
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
    "Each labelled step once (a step on several paths counts once), its hard label against the "
    "exact truth: a step is truly good when no step of its path is wrong and a solution can still be reached from "
    "it. Precision of good: the share of good labels on truly good steps; recall of good: the share of truly good "
    "steps labelled good, among the steps labelled and (dropped missed) among every step on the paths; the same for "
    "bad. Dropped: the share of steps on labelled paths left without a label (no decisive interval, or the "
    "consensus's two sources disagree, on the step or one before it)."
)
RULES_ABOUT = (
    "All depths, hard labels only where the 95% interval is decisive (threshold ... decisive), and where two "
    "sources agree (consensus(a,b): the first source's value, each source's hard label by the threshold):"
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

OMEGA_ABOUT = (
    "Monte Carlo labels found by OmegaPRM's binary search for each path's first wrong step, against estimating "
    "every step (with the same rule: a step is good when a verified completion runs through it, bad from the first "
    "step after that with no verified completion) and against Math-Shepherd's rule (each step good when its own "
    "estimate is above 0): completions the rollout PRM generated, per distinct step labelled, and the labels "
    "against the truth. Every estimate is paid for (the search's are cleared) unless the search's are kept."
)


def label_section(
    check: LabelCheck, truths: Truths, domain: Domain, columns: tuple[str, str], mc: bool = False
) -> str:
    """A label export's card section: its labels' check against the truth, by depth, named by `columns` (the
    source and threshold); with `mc`, the Monte Carlo table."""
    if not truths.decided:
        return undecided_note(domain)
    parts = [LABELS_ABOUT, table(LABEL_HEADER, label_rows(*columns, check))]
    if mc and truths.mc:
        parts += [MC_ABOUT, table(MC_HEADER, mc_rows(truths))]
    return "\n\n".join(parts)


def pair_section(checks: dict[str, PairCheck], truths: Truths, domain: Domain, source: str) -> str:
    """A pair export's card section: each kind of pair's check against the truth."""
    if not truths.decided:
        return undecided_note(domain)
    return "\n\n".join([PAIRS_ABOUT, table(PAIR_HEADER, pair_rows(source, checks))])


def run_report(
    run_dir: str | Path, thresholds: Sequence[float], pairs: PairOptions, omega: Sequence[int] = (), keep: bool = False
) -> str:
    """`metacot labels RUN`: every label source the run has values for at each threshold, the Monte Carlo table,
    and the pairs each source gives with the pair options, against the truth; OmegaPRM's binary search against
    labelling every step at each number of rollouts in `omega` (with `keep`, reading the search's estimates)."""
    for threshold in thresholds:
        check_threshold(threshold)
    directory = RunDir(run_dir)
    domain = directory.domain()
    truths = Truths()
    trees = list(truths.read(directory.iter_trees(), domain))
    if not truths.decided:
        return undecided_note(domain)
    sources = [s for s in LABEL_SOURCES if has_values(trees, s)]
    label_table, rule_table, pair_table = [], [], []
    for source in sources:
        for threshold in thresholds:
            label_table += _label_rows(trees, domain, truths, LabelRule(source, threshold))
            rule_table += _label_rows(trees, domain, truths, LabelRule(source, threshold, decisive=True))[:1]
        records = [r for tree in trees for r in pair_records(tree, domain, pairs, source)]
        pair_table += pair_rows(source, check_pairs(records, truths))
    for pair in combinations(sources, 2):
        for threshold in thresholds:
            rule_table += _label_rows(trees, domain, truths, LabelRule(CONSENSUS, threshold, pair=pair))[:1]
    parts = [f"# Labels and pairs of {run_dir} against the truth", LABELS_ABOUT, table(LABEL_HEADER, label_table)]
    parts += [RULES_ABOUT, table(LABEL_HEADER, rule_table)]
    if truths.mc:
        parts += [MC_ABOUT, table(MC_HEADER, mc_rows(truths))]
    parts += [PAIRS_ABOUT, table(PAIR_HEADER, pair_table)]
    if omega:
        parts += [OMEGA_ABOUT, table(OMEGA_HEADER, omega_rows(run_dir, omega, fresh=not keep))]
    return "\n\n".join(parts) + "\n"


def _label_rows(trees: list[SearchTree], domain: Domain, truths: Truths, rule: LabelRule) -> list[list[str]]:
    """The rule's labels of every tree against the truth: all depths, then each depth."""
    tally = Tally()
    records = [r for tree in trees for r in label_records(tree, domain, rule, tally=tally)]
    return label_rows(rule.name, rule.threshold_text, check_labels(records, truths, tally.dropped))
