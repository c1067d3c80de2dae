"""PRM step labels from a saved tree: soft labels from a value source, hard ones by threshold, in two layouts.

Conventions. Math-Shepherd (Wang et al. 2024) labels a step by completing it N times with the policy: the soft
label is the share of completions that reach the right answer, the hard label says whether any does. OmegaPRM
(Luo et al. 2024) uses the same Monte Carlo estimate, found by binary search for the first wrong step, and trains
on the soft values. Here `--label-source mc` gives exactly that estimate (the rollout PRM's successes / rollouts on
each node); the hard label is `soft >= threshold`, so Math-Shepherd's hard estimation is a threshold just above 0
(any success), and 0.5 a majority. `prm` takes the PRM's scores, `subtree` the verified-success rate of the paths
the search finished below the step. Every source gives a dead step 0 and a verified terminal step the verifier's
1 or 0, and a step at or after a wrong result taken at face value (a node's `slip`) 0: its path is wrong.

Layouts. "stepwise": TRL's stepwise-supervision format (prompt, completions: the steps, labels: one bool each),
plus soft_labels and the steps' node ids in the saved tree (nodes). "math-shepherd": the Math-Shepherd dataset's
step-tag text: `input` is the prompt and the steps, each step followed by the step tag "ки"; `label` is the same
text with each tag replaced by "+" or "-".
"""

from __future__ import annotations

from collections.abc import Iterator

from metacot.outputs.treestats import SubtreeStats, path_value
from metacot.problems.base import Domain
from metacot.tree import SearchTree

LAYOUTS = ("stepwise", "math-shepherd")
STEP_TAG = "ки"


def check_threshold(threshold: float) -> None:
    """A ValueError naming --threshold for one outside (0, 1]."""
    if not 0 < threshold <= 1:
        raise ValueError(f"--threshold: expected a number in (0, 1], got {threshold}")


def label_records(
    tree: SearchTree, domain: Domain, source: str = "prm", threshold: float = 0.5, layout: str = "stepwise"
) -> Iterator[dict]:
    """One record per path from the root to a leaf whose every step has a value in the source (a path whose answer
    the check could not decide is left out: it has no label)."""
    if layout not in LAYOUTS:
        raise ValueError(f"--layout: unknown {layout!r}; expected one of {', '.join(LAYOUTS)}")
    problem = domain.problem_from_dict(tree.problem)
    prompt = domain.prompt(problem)
    stats = SubtreeStats.of(tree)
    for leaf in tree.nodes[1:]:
        if leaf.children or leaf.undecided:
            continue
        path = [tree.nodes[i] for i in tree.path_to(leaf.id)[1:]]
        values = [path_value(tree, n, source, stats) for n in path]
        if any(v is None for v in values):
            continue
        soft = [float(v) for v in values if v is not None]
        hard = [v >= threshold for v in soft]
        steps = [n.step for n in path]
        record = {
            "problem_id": tree.problem_id,
            "nodes": [n.id for n in path],
            "label_source": source,
            "soft_labels": soft,
        }
        if layout == "stepwise":
            yield {**record, "prompt": prompt, "completions": steps, "labels": hard}
        else:
            yield {**record, **math_shepherd(prompt, steps, hard), "task": domain.name}


def math_shepherd(prompt: str, steps: list[str], labels: list[bool]) -> dict:
    """The step-tag layout: each step as `Step i: text ки` on its own line after the prompt."""
    lines = [f"Step {i}: {step.strip()} " for i, step in enumerate(steps, 1)]
    text = "\n".join(f"{line}{STEP_TAG}" for line in lines)
    label = "\n".join(f"{line}{'+' if good else '-'}" for line, good in zip(lines, labels, strict=True))
    return {"input": f"{prompt} {text}", "label": f"{prompt} {label}"}
