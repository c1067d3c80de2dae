"""PRM step labels from a saved tree: soft labels from a value source with their intervals, hard ones by threshold
(or only where the interval is decisive), one source or two in consensus, in two layouts.

Conventions. Math-Shepherd (Wang et al. 2024) labels a step by completing it N times with the policy: the soft
label is the share of completions that reach the right answer, the hard label says whether any does. OmegaPRM
(Luo et al. 2024) uses the same Monte Carlo estimate, found by binary search for the first wrong step
(outputs.omega), and trains on the soft values. Here `--label-source mc` gives exactly that estimate (the rollout
PRM's successes / rollouts on each node); the hard label is `soft >= threshold`, so Math-Shepherd's hard estimation
is a threshold just above 0 (any success), and 0.5 a majority. `prm` takes the PRM's scores, `subtree` the
verified-success rate of the paths the search finished below the step. Every source gives a dead step 0 and a
verified terminal step the verifier's 1 or 0, and a step at or after a wrong result taken at face value (a node's
`slip`) 0: its path is wrong.

Confidence. Each soft label carries its 95% interval (`intervals`: Wilson, from the counts behind it; a point for a
value known without a model; null for a single PRM score). With `decisive`, a step gets a hard label only where its
interval lies wholly at or above the threshold (good) or below it (bad). `consensus` labels a step where two
sources' hard labels agree (Qwen's consensus filtering, arXiv 2501.07301); its soft label and interval are the
first source's. A path's record ends before its first step without a hard label (the steps after it are dropped:
a label is conditioned on the steps before it), and a path with none left is left out. `first_error_step` is the
index of the record's first step labelled bad, -1 if none (ProcessBench's convention).

Layouts. "stepwise": TRL's stepwise-supervision format (prompt, completions: the steps, labels: one bool each),
plus soft_labels and the steps' node ids in the saved tree (nodes). "math-shepherd": the Math-Shepherd dataset's
step-tag text: `input` is the prompt and the steps, each step followed by the step tag "ки"; `label` is the same
text with each tag replaced by "+" or "-"; the hard labels also as a list (step_labels).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from metacot.outputs.treestats import LABEL_SOURCES, SubtreeStats, path_value, value_interval
from metacot.problems.base import Domain
from metacot.tree import Node, SearchTree

LAYOUTS = ("stepwise", "math-shepherd")
STEP_TAG = "ки"
CONSENSUS = "consensus"
SOURCES = (*LABEL_SOURCES, CONSENSUS)
OMEGA = "omega"  # labels by OmegaPRM's binary search (outputs.omega), which rolls out with the run's policy

Interval = tuple[float, float]


def check_threshold(threshold: float) -> None:
    """A ValueError naming --threshold for one outside (0, 1]."""
    if not 0 < threshold <= 1:
        raise ValueError(f"--threshold: expected a number in (0, 1], got {threshold}")


@dataclass(frozen=True)
class LabelRule:
    """How steps are labelled: the value source (or consensus of the two `pair` sources), the hard label's
    threshold, and whether a hard label needs a decisive interval."""

    source: str = "prm"
    threshold: float = 0.5
    decisive: bool = False
    pair: tuple[str, ...] = ("mc", "subtree")

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"--label-source: unknown {self.source!r}; expected one of {', '.join(SOURCES)}")
        check_threshold(self.threshold)
        if len(self.pair) != 2 or self.pair[0] == self.pair[1] or not set(self.pair) <= set(LABEL_SOURCES):
            raise ValueError(
                f"--consensus: expected two different sources of {', '.join(LABEL_SOURCES)}, got {','.join(self.pair)}"
            )

    @property
    def sources(self) -> tuple[str, ...]:
        """The value sources the rule reads."""
        return self.pair if self.source == CONSENSUS else (self.source,)

    @property
    def threshold_text(self) -> str:
        """The threshold, and whether hard labels need a decisive interval."""
        return f"{self.threshold:g}" + (" decisive" if self.decisive else "")

    @property
    def name(self) -> str:
        """The label_source a record carries: the source, or consensus(a,b)."""
        return f"{CONSENSUS}({','.join(self.pair)})" if self.source == CONSENSUS else self.source


@dataclass
class StepLabel:
    """One step's soft label, its 95% interval (None: a single score) and hard label (None: not decided)."""

    value: float
    interval: Interval | None
    hard: bool | None


@dataclass
class Tally:
    """The steps (problem id, node id) on labelled paths whose records kept them, and those they dropped."""

    kept: set[tuple[str, int]] = field(default_factory=set)
    dropped: set[tuple[str, int]] = field(default_factory=set)

    def add(self, problem_id: str, nodes: list[int], kept: int) -> None:
        self.kept.update((problem_id, n) for n in nodes[:kept])
        self.dropped.update((problem_id, n) for n in nodes[kept:])

    def counts(self) -> dict[str, int]:
        return {"steps labelled": len(self.kept), "steps dropped": len(self.dropped)}


def hard_label(value: float, interval: Interval | None, rule: LabelRule) -> bool | None:
    """value >= threshold; with rule.decisive, True only where the whole interval is at or above the threshold,
    False where it is below, else None (a single score, which has no interval, included)."""
    if not rule.decisive:
        return value >= rule.threshold
    if interval is None:
        return None
    low, high = interval
    return True if low >= rule.threshold else False if high < rule.threshold else None


def step_label(tree: SearchTree, node: Node, rule: LabelRule, stats: SubtreeStats) -> StepLabel | None:
    """The step's label under the rule; None where a source has no value for it. Consensus: the first source's
    value and interval, a hard label where both sources' agree."""
    labels = []
    for source in rule.sources:
        value = path_value(tree, node, source, stats)
        if value is None:
            return None
        interval = value_interval(tree, node, source, stats)
        labels.append(StepLabel(value, interval, hard_label(value, interval, rule)))
    first = labels[0]
    agreed = first.hard if all(label.hard == first.hard for label in labels) else None
    return StepLabel(first.value, first.interval, agreed)


def label_records(
    tree: SearchTree,
    domain: Domain,
    rule: LabelRule | None = None,
    layout: str = "stepwise",
    tally: Tally | None = None,
) -> Iterator[dict]:
    """One record per path from the root to a leaf whose every step has a value in the rule's sources (a path whose
    answer the check could not decide is left out: it has no label), up to its first step without a hard label;
    the steps kept and dropped go in `tally`."""
    rule = rule or LabelRule()
    if layout not in LAYOUTS:
        raise ValueError(f"--layout: unknown {layout!r}; expected one of {', '.join(LAYOUTS)}")
    prompt = domain.prompt(domain.problem_from_dict(tree.problem))
    stats = SubtreeStats.of(tree)
    ends: set[int] = set()  # the last node of each record: paths cut before the same step give one record
    for path in leaf_paths(tree):
        labels = [step_label(tree, n, rule, stats) for n in path]
        if any(label is None for label in labels):
            continue
        steps = [label for label in labels if label is not None]
        kept = next((i for i, label in enumerate(steps) if label.hard is None), len(steps))
        if tally is not None:
            tally.add(tree.problem_id, [n.id for n in path], kept)
        if kept and path[kept - 1].id not in ends:
            ends.add(path[kept - 1].id)
            yield path_record(tree, domain, prompt, path[:kept], steps[:kept], rule.name, layout)


def leaf_paths(tree: SearchTree) -> Iterator[list[Node]]:
    """The steps from the root to each leaf whose answer is decided."""
    for leaf in tree.nodes[1:]:
        if not leaf.children and not leaf.undecided:
            yield [tree.nodes[i] for i in tree.path_to(leaf.id)[1:]]


def path_record(
    tree: SearchTree, domain: Domain, prompt: str, path: list[Node], labels: list[StepLabel], source: str, layout: str
) -> dict:
    """One path's record in the layout, every step with a hard label."""
    hard = [bool(label.hard) for label in labels]
    steps = [n.step for n in path]
    record = {
        "problem_id": tree.problem_id,
        "nodes": [n.id for n in path],
        "label_source": source,
        "soft_labels": [label.value for label in labels],
        "intervals": [None if label.interval is None else list(label.interval) for label in labels],
        "first_error_step": first_error_step(hard),
    }
    if layout == "stepwise":
        return {**record, "prompt": prompt, "completions": steps, "labels": hard}
    return {**record, "step_labels": hard, **math_shepherd(prompt, steps, hard), "task": domain.name}


def hard_labels(record: dict) -> list[bool]:
    """A record's hard labels: `labels` in the stepwise layout, `step_labels` in the math-shepherd one (whose
    `label` is text)."""
    return record["labels"] if "labels" in record else record["step_labels"]


def first_error_step(labels: list[bool]) -> int:
    """The index of the first step labelled bad; -1 if none."""
    return next((i for i, good in enumerate(labels) if not good), -1)


def math_shepherd(prompt: str, steps: list[str], labels: list[bool]) -> dict:
    """The step-tag layout: each step as `Step i: text ки` on its own line after the prompt."""
    lines = [f"Step {i}: {step.strip()} " for i, step in enumerate(steps, 1)]
    text = "\n".join(f"{line}{STEP_TAG}" for line in lines)
    label = "\n".join(f"{line}{'+' if good else '-'}" for line, good in zip(lines, labels, strict=True))
    return {"input": f"{prompt} {text}", "label": f"{prompt} {label}"}
