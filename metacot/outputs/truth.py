"""Label and pair exports checked against the exact truth, where the domain decides it (Domain.reachable).

A step is truly good when no step of its path is wrong (Domain.first_mistake: a wrong result, an illegal step) and
a solution can still be reached from its state; a problem is solvable when its root is. A label is checked per node
(a node on several paths counts once); a pair's chosen step is truly better when it is truly good and the rejected
one truly bad, inverted when the other way round. Countdown decides every state (the exact oracle); math decides
none (only a final answer is checked), and its exports say so instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, field
from typing import Any

from metacot.outputs.labels import hard_labels
from metacot.outputs.treestats import mc_value
from metacot.problems.base import Domain
from metacot.tree import SearchTree
from metacot.treecheck import ROOT


def solvable(tree: SearchTree, domain: Domain, problem: Any) -> bool | None:
    """Whether the problem has a solution: True when the search found one, else the domain's verdict on the root
    (None: it cannot decide)."""
    return True if tree.solved else domain.reachable(problem, tree.nodes[ROOT].state)


@dataclass
class TreeTruth:
    """What is true of one tree's nodes, by node id: truly good (None: the domain cannot decide), a wrong step on
    the path to it, its depth; and whether the problem is solvable."""

    good: list[bool | None]
    wrong: list[bool]
    depth: list[int]
    solvable: bool | None

    @staticmethod
    def of(tree: SearchTree, domain: Domain) -> TreeTruth:
        problem = domain.problem_from_dict(tree.problem)
        wrong: list[bool] = []
        good: list[bool | None] = []
        for node in tree.nodes:  # a parent before its children
            bad_path = node.parent >= 0 and (
                wrong[node.parent] or domain.first_mistake(problem, tree.steps_to(node.id)) is not None
            )
            wrong.append(bad_path)
            dead = bad_path or node.error is not None
            good.append(False if dead else domain.reachable(problem, node.state))
        depth = [n.depth for n in tree.nodes]
        return TreeTruth(good, wrong, depth, solvable(tree, domain, problem))


@dataclass
class Confusion:
    """Hard labels against the truth: labelled good / bad on truly good / bad steps; steps left without a label
    (dropped: no decisive interval, or the consensus's sources disagree, on them or a step before them)."""

    good_on_good: int = 0
    good_on_bad: int = 0
    bad_on_good: int = 0
    bad_on_bad: int = 0
    dropped: int = 0
    dropped_good: int = 0  # truly good among them

    def add(self, label: bool, truth: bool) -> None:
        if label:
            self.good_on_good += truth
            self.good_on_bad += not truth
        else:
            self.bad_on_good += truth
            self.bad_on_bad += not truth

    @property
    def steps(self) -> int:
        return self.good_on_good + self.good_on_bad + self.bad_on_good + self.bad_on_bad

    def cells(self) -> list[str]:
        """steps, dropped share, good labels, good precision and recall (among the steps labelled, and of every
        truly good step, dropped ones missed), bad precision and recall."""
        tp, fp, fn, tn = self.good_on_good, self.good_on_bad, self.bad_on_good, self.bad_on_bad
        good = (_share(tp, tp + fp), _share(tp, tp + fn), _share(tp, tp + fn + self.dropped_good))
        dropped = _share(self.dropped, self.steps + self.dropped)
        return [str(self.steps), dropped, str(tp + fp), *good, _share(tn, tn + fn), _share(tn, tn + fp)]


@dataclass
class McRow:
    """Monte Carlo estimates made with one number of rollouts: how far they are from the truth (1 or 0)."""

    nodes: int = 0
    good: int = 0
    on_good: float = 0.0  # summed estimates of truly good nodes (the truth: 1)
    on_bad: float = 0.0  # of truly bad ones (the truth: 0)
    good_at_zero: int = 0  # truly good nodes whose rollouts all failed


@dataclass
class Truths:
    """The truth of every tree an export read (by problem id), and the Monte Carlo estimates' errors by rollouts."""

    trees: dict[str, TreeTruth] = field(default_factory=dict)
    mc: dict[int, McRow] = field(default_factory=lambda: defaultdict(McRow))
    decided: bool = False  # whether the domain decided any node's truth

    def add(self, tree: SearchTree, domain: Domain) -> SearchTree:
        truth = self.trees[tree.problem_id] = TreeTruth.of(tree, domain)
        self.decided = self.decided or any(g is not None for g in truth.good)
        for node in tree.nodes:
            estimate, good = mc_value(node), truth.good[node.id]
            if estimate is None or good is None or node.known_value is not None or node.rollouts is None:
                continue
            row = self.mc[node.rollouts]
            row.nodes += 1
            row.good += good
            row.on_good += estimate if good else 0.0
            row.on_bad += 0.0 if good else estimate
            row.good_at_zero += good and not node.successes
        return tree

    def read(self, trees: Iterable[SearchTree], domain: Domain, keep: bool = True) -> Iterator[SearchTree]:
        """The trees, each added as it goes by; without `keep`, only the latest one's truth is held (an export
        checks each tree's records as they stream)."""
        for tree in trees:
            if not keep:
                self.trees.clear()
            yield self.add(tree, domain)


@dataclass
class LabelCheck:
    """A label export's hard labels against the truth, by depth; steps whose truth is undecided counted apart."""

    by_depth: dict[int, Confusion] = field(default_factory=lambda: defaultdict(Confusion))
    undecided: int = 0
    problem: str | None = None  # the problem whose records are being checked: a tree's records come together
    seen: set[int] = field(default_factory=set)  # its nodes checked so far

    def total(self) -> Confusion:
        return Confusion(*(sum(counts) for counts in zip(*map(astuple, self.by_depth.values()), strict=True)))

    def add(self, record: dict, truth: TreeTruth) -> None:
        """The record's nodes not checked before, each by its hard label."""
        if record["problem_id"] != self.problem:
            self.problem, self.seen = record["problem_id"], set()
        for node, label in zip(record["nodes"], hard_labels(record), strict=True):
            if node in self.seen:
                continue
            self.seen.add(node)
            good = truth.good[node]
            if good is None:
                self.undecided += 1
            else:
                self.by_depth[truth.depth[node]].add(label, good)

    def drop(self, truth: TreeTruth, node: int) -> None:
        confusion = self.by_depth[truth.depth[node]]
        confusion.dropped += 1
        confusion.dropped_good += bool(truth.good[node])


def check_labels(
    records: Iterable[dict],
    truths: Truths,
    dropped: Iterable[tuple[str, int]] = (),
    check: LabelCheck | None = None,
) -> LabelCheck:
    """Each labelled node once: its hard label against the truth; the `dropped` nodes (problem id, node id)
    counted by depth. Added to `check` when given (a stream's records, a tree's at a time)."""
    check = LabelCheck() if check is None else check
    for problem_id, node in dropped:
        check.drop(truths.trees[problem_id], node)
    for record in records:
        check.add(record, truths.trees[record["problem_id"]])
    return check


@dataclass
class PairCheck:
    """One kind of pair against the truth."""

    pairs: int = 0
    better: int = 0  # chosen truly good, rejected truly bad
    inverted: int = 0  # chosen truly bad, rejected truly good
    wrong_chosen: int = 0  # a wrong step (arithmetic, an illegal one) on the chosen path
    unsolvable: int = 0  # from a problem with no solution
    undecided: int = 0
    chosen_chars: int = 0  # summed lengths: a gap DPO would learn
    rejected_chars: int = 0

    def cells(self) -> list[str]:
        decided = self.pairs - self.undecided
        counts = (self.inverted, self.wrong_chosen, self.unsolvable, self.undecided)
        lengths = f"{self.chosen_chars / self.pairs:.1f} / {self.rejected_chars / self.pairs:.1f}"
        return [str(self.pairs), _share(self.better, decided), *(str(n) for n in counts), lengths]


def check_pairs(
    records: Iterable[dict], truths: Truths, checks: dict[str, PairCheck] | None = None
) -> dict[str, PairCheck]:
    """Pairs by kind and reason against the truth; added to `checks` when given (a stream's, a tree's at a time)."""
    checks = defaultdict(PairCheck) if checks is None else checks
    for record in records:
        truth = truths.trees[record["problem_id"]]
        check = checks[f"{record['kind']} ({record['reason']})"]
        chosen, rejected = truth.good[record["chosen_node"]], truth.good[record["rejected_node"]]
        check.pairs += 1
        check.chosen_chars += len(record["chosen"])
        check.rejected_chars += len(record["rejected"])
        check.wrong_chosen += truth.wrong[record["chosen_node"]]
        check.unsolvable += truth.solvable is False
        if chosen is None or rejected is None:
            check.undecided += 1
            continue
        check.better += chosen and not rejected
        check.inverted += rejected and not chosen
    return checks


LABEL_HEADER = ["source", "threshold", "depth", "steps", "dropped", "good labels", "good precision", "good recall"]
LABEL_HEADER += ["good recall, dropped missed", "bad precision", "bad recall"]
PAIR_HEADER = ["source", "kind (reason)", "pairs", "chosen truly better", "inverted", "wrong step chosen"]
PAIR_HEADER += ["from unsolvable problems", "undecided", "mean characters chosen / rejected"]
MC_HEADER = ["rollouts", "nodes", "truly good", "mean estimate, truly good", "mean estimate, truly bad"]
MC_HEADER += ["truly good at 0 successes"]


def label_rows(source: str, threshold: str, check: LabelCheck) -> list[list[str]]:
    """All depths, then each depth."""
    rows = [[source, threshold, "all", *check.total().cells()]]
    for depth in sorted(check.by_depth):
        rows.append([source, threshold, str(depth), *check.by_depth[depth].cells()])
    return rows


def pair_rows(source: str, checks: dict[str, PairCheck]) -> list[list[str]]:
    return [[source, kind, *check.cells()] for kind, check in sorted(checks.items())]


def mc_rows(truths: Truths) -> list[list[str]]:
    rows = []
    for n, row in sorted(truths.mc.items()):
        bad = row.nodes - row.good
        means = (_mean(row.on_good, row.good), _mean(row.on_bad, bad))
        rows.append([str(n), str(row.nodes), str(row.good), *means, _share(row.good_at_zero, row.good)])
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join(f"| {' | '.join(line)} |" for line in lines)


def undecided_note(domain: Domain) -> str:
    return (
        f"The {domain.name} domain cannot decide whether a step can still reach a solution (Domain.reachable): only "
        "a final answer is checked, and every label source already takes a verified answer's 1 or 0 from the "
        "verifier. These records are not checked against the truth."
    )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "-"


def _mean(total: float, count: int) -> str:
    return f"{total / count:.3f}" if count else "-"
