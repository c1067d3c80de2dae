"""OmegaPRM-style labels (Luo et al. 2024, arXiv 2406.06592): each path's first wrong step found by binary search
on the rollout PRM's Monte Carlo estimates, against estimating every step.

A step is labelled good when a completion from it verifies (its estimate is above 0, Math-Shepherd's hard
estimation) or from a step after it (the completion runs through it), bad from the first step after that with no
verified completion. Binary search estimates the middle of each path's undecided span, all paths of a tree at once:
an estimate is on the node, so it bounds every path through the node, and one above 0 settles its ancestors. It
reads the estimates the nodes already carry (the search's, when it ran the rollout PRM) instead of rolling out
again. Per-step labelling estimates every step on every path, depth by depth so that the rollout PRM's reuse passes
a parent's completions on to its children, labelled by the same rule or each on its own. Soft labels: the estimate
of each step that has one, else the label inferred (1 or 0); a step known without rollouts (a dead or verified
step, a slip) has its known value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from metacot.outputs.labels import StepLabel, leaf_paths, path_record
from metacot.outputs.rundir import RunDir
from metacot.outputs.treestats import SubtreeStats, path_value, value_interval
from metacot.outputs.truth import Truths, check_labels
from metacot.prm.base import ScoreRequest
from metacot.prm.rollout import RolloutPRM
from metacot.problems.base import Domain
from metacot.seeding import mix, problem_seed
from metacot.tree import Node, SearchTree

BINARY, EVERY, ON_ITS_OWN = "binary search", "every step", "every step, each on its own"
METHODS = (BINARY, EVERY, ON_ITS_OWN)
_NO_STATS = SubtreeStats([], [], [])  # the mc source reads no subtree counts


@dataclass
class Labelling:
    """One method's labels of a run's trees and what they cost: completions generated, steps estimated (new or
    already on the node), distinct steps labelled."""

    method: str
    records: list[dict] = field(default_factory=list)
    rollouts: int = 0
    estimated: int = 0
    labelled: int = 0


class Estimator:
    """The rollout PRM on saved trees: a node without a value gets its Monte Carlo estimate (successes / rollouts on
    the node, seeded by the run's seed, the problem and the node); a node that has one is read as it is."""

    def __init__(self, prm: RolloutPRM, seed: int):
        self.prm, self.seed = prm, seed

    def estimate(self, problem: Any, tree: SearchTree, nodes: Iterable[Node], labelling: Labelling) -> None:
        asked = {n.id: n for n in nodes if value(tree, n) is None}
        base = problem_seed(self.seed, tree.problem_id)
        before = tree.compute.rollouts
        self.prm.score([ScoreRequest(problem, tree, n, mix(base, n.id, 1)) for n in asked.values()])
        labelling.rollouts += tree.compute.rollouts - before


def value(tree: SearchTree, node: Node) -> float | None:
    """The node's Monte Carlo value (path_value of the mc source); None where it has none yet."""
    return path_value(tree, node, "mc", _NO_STATS)


def first_errors(tree: SearchTree, paths: list[list[Node]], estimate: Callable[[list[Node]], None]) -> list[int]:
    """Each path's first wrong step (len(path) where none), by binary search over all paths at once, one estimate
    call a round, between the bounds of what the tree's values prove (_bounds)."""
    while True:
        proven = proven_good(tree)
        asks = [path[(low + high) // 2] for path in paths for low, high in [_bounds(tree, path, proven)] if low < high]
        if not asks:
            return [_bounds(tree, path, proven)[1] for path in paths]
        estimate(asks)


def proven_good(tree: SearchTree) -> set[int]:
    """The nodes a verified completion runs through: those whose value is above 0, and their ancestors."""
    proven: set[int] = set()
    for node in reversed(tree.nodes):  # a child's id is larger than its parent's
        if node.id in proven or (value(tree, node) or 0) > 0:
            proven.add(node.id)
            proven.add(node.parent)
    return proven


def _bounds(tree: SearchTree, path: list[Node], proven: set[int]) -> tuple[int, int]:
    """Where the path's first wrong step can lie, [low, high]: after its last proven step, at or before the first
    step after that with a value of 0. The steps between have no value yet."""
    low = 1 + max((i for i, node in enumerate(path) if node.id in proven), default=-1)
    high = next((i for i in range(low, len(path)) if value(tree, path[i]) == 0), len(path))
    return low, high


def label_tree(
    tree: SearchTree, domain: Domain, estimator: Estimator, labelling: Labelling, layout: str = "stepwise"
) -> list[dict]:
    """The records of the tree's paths labelled by the labelling's method; its costs added to it."""
    problem = domain.problem_from_dict(tree.problem)
    paths = list(leaf_paths(tree))

    def estimate(nodes: Iterable[Node]) -> None:  # one rollout PRM call
        estimator.estimate(problem, tree, nodes, labelling)

    if labelling.method != BINARY:
        for depth in range(1, max((len(p) for p in paths), default=0) + 1):
            estimate(path[depth - 1] for path in paths if len(path) >= depth)
    if labelling.method == ON_ITS_OWN:
        goods = [[(value(tree, n) or 0) > 0 for n in p] for p in paths]
    else:  # with every step estimated, first_errors asks for nothing more
        errors = first_errors(tree, paths, estimate)
        goods = [[i < error for i in range(len(p))] for p, error in zip(paths, errors, strict=True)]
    prompt = domain.prompt(problem)
    records = []
    for path, good in zip(paths, goods, strict=True):
        labels = [_label(tree, node, g) for node, g in zip(path, good, strict=True)]
        records.append(path_record(tree, domain, prompt, path, labels, f"mc ({labelling.method})", layout))
    steps = {n.id for path in paths for n in path}
    labelling.labelled += len(steps)
    labelling.estimated += sum(tree.nodes[i].rollouts is not None for i in steps)
    return records


def _label(tree: SearchTree, node: Node, good: bool) -> StepLabel:
    known = value(tree, node)
    interval = value_interval(tree, node, "mc", _NO_STATS) if known is not None else None
    return StepLabel(float(good) if known is None else known, interval, good)


def run_estimator(directory: RunDir, domain: Domain, rollouts: int | None) -> Estimator:
    """The rollout PRM with the run's policy and rollout settings (`rollouts` completions an estimate; None: the
    run's), seeded by the run's seed."""
    from metacot.config import SynthConfig, from_dict  # imports every backend's settings: only when used
    from metacot.policy import make_policy

    config = from_dict(SynthConfig, directory.read_manifest().get("config", {}), f"{directory.manifest_path}: config")
    settings = config.prm.rollout if rollouts is None else replace(config.prm.rollout, rollouts=rollouts)
    return Estimator(RolloutPRM(settings, domain, make_policy(config.policy, domain)), config.seed)


def labelled(
    trees: Iterable[SearchTree],
    domain: Domain,
    estimator: Estimator,
    labelling: Labelling,
    fresh: bool,
    layout: str = "stepwise",
) -> Iterator[list[dict]]:
    """Each tree's records as it is labelled by the labelling's method; with `fresh`, the estimates the search left
    on its nodes are cleared first, so that every estimate is paid for."""
    for tree in trees:
        if fresh:
            for node in tree.nodes:
                node.successes = node.rollouts = None
        yield label_tree(tree, domain, estimator, labelling, layout)


def label_trees(
    trees: Iterable[SearchTree], domain: Domain, estimator: Estimator, method: str, fresh: bool
) -> Labelling:
    """The trees labelled by the method (`labelled`), every record kept."""
    labelling = Labelling(method)
    for records in labelled(trees, domain, estimator, labelling, fresh):
        labelling.records += records
    return labelling


def label_run(run_dir: str | Path, rollouts: int | None, fresh: bool, truths: Truths) -> list[Labelling]:
    """Every method's labels of the run's trees, each on its own copy of them; the trees' truth goes in `truths`
    (once)."""
    directory = RunDir(run_dir)
    domain = directory.domain()
    out = []
    for method in METHODS:
        trees = (truths.add(t, domain) if t.problem_id not in truths.trees else t for t in directory.iter_trees())
        out.append(label_trees(trees, domain, run_estimator(directory, domain, rollouts), method, fresh))
    return out


OMEGA_HEADER = ["rollouts an estimate", "method", "steps labelled", "steps estimated", "completions generated"]
OMEGA_HEADER += ["completions per labelled step", "good precision", "good recall", "bad precision", "bad recall"]


def omega_rows(run_dir: str | Path, rollouts: Iterable[int | None], fresh: bool) -> list[list[str]]:
    """Binary search against every step, at each number of rollouts an estimate, against the truth."""
    rows, truths = [], Truths()
    for n in rollouts:
        for labelling in label_run(run_dir, n, fresh, truths):
            cells = check_labels(labelling.records, truths).total().cells()
            cost = f"{labelling.rollouts / labelling.labelled:.2f}" if labelling.labelled else "-"
            counts = (labelling.labelled, labelling.estimated, labelling.rollouts)
            rows.append([str(n or "run's"), labelling.method, *map(str, counts), cost, *cells[3:5], *cells[6:]])
    return rows
