"""A PRM's training data: stepwise export records read and checked, held-out problems split off, paths encoded as
step-tag text, and the held-out metrics (step-label F1, first-error accuracy)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metacot.outputs.card import DATA_FILE
from metacot.outputs.labels import first_error_step
from metacot.outputs.records import read_records
from metacot.outputs.rundir import RunDirError
from metacot.prm.readout import PathFormat

STEPWISE = ("prompt", "completions", "labels")  # TRL's stepwise-supervision columns


def export_file(path: str | Path) -> Path:
    """The records' file of an export: the path itself, or its folder's data.jsonl; RunDirError naming it."""
    path = Path(path)
    file = path / DATA_FILE["jsonl"] if path.is_dir() else path
    if not file.is_file():
        raise RunDirError(f"{file}: no such file (expected a stepwise export: `metacot export RUN --prm-labels`)")
    return file


def read_stepwise(path: str | Path) -> list[dict]:
    """The records of a stepwise export (a folder or its data.jsonl), each checked; RunDirError naming the file and
    line of the first bad one."""
    file = export_file(path)
    records = []
    for line, record in read_records(file):
        check_record(record, f"{file}:{line}")
        records.append(record)
    if not records:
        raise RunDirError(f"{file}: no records")
    return records


def check_record(record: dict, where: str) -> None:
    """RunDirError naming `where` unless the record has a prompt, its steps and one bool label per step."""
    if "step_labels" in record:
        raise RunDirError(f"{where}: the math-shepherd layout; export with --layout stepwise (TRL's stepwise layout)")
    missing = [key for key in STEPWISE if key not in record]
    if missing:
        raise RunDirError(f"{where}: not TRL's stepwise layout (prompt, completions, labels): no {', '.join(missing)}")
    steps, labels = record["completions"], record["labels"]
    if not isinstance(record["prompt"], str) or not isinstance(steps, list) or not isinstance(labels, list):
        raise RunDirError(f"{where}: prompt must be text, completions and labels lists")
    if not steps or len(steps) != len(labels):
        raise RunDirError(f"{where}: {len(steps)} completions for {len(labels)} labels (one label per step, >= 1)")
    if not all(isinstance(s, str) for s in steps) or not all(isinstance(x, bool) for x in labels):
        raise RunDirError(f"{where}: completions must be text, labels true or false")


def split_heldout(records: list[dict], share: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(training, held-out) records, a seeded `share` of the problems (at least one) held out whole: paths of one
    tree share their first steps, so a split by path would leak them."""
    problems = sorted({r["problem_id"] for r in records})
    if len(problems) < 2:
        raise RunDirError(f"need records of at least 2 problems to hold some out, got {len(problems)}")
    random.Random(seed).shuffle(problems)
    heldout = set(problems[: max(1, min(len(problems) - 1, math.ceil(share * len(problems))))])
    return [r for r in records if r["problem_id"] not in heldout], [r for r in records if r["problem_id"] in heldout]


@dataclass
class Example:
    """One path as the model reads it: token ids with the step tag after each step, and each step's label."""

    ids: list[int]
    labels: list[bool]


def encode(records: list[dict], path_format: PathFormat, tag_id: int, max_length: int) -> tuple[list[Example], int]:
    """The records as examples (the text metacot's step-tag PRM reads), and how many were cut to max_length (their
    steps past it dropped; a record with none left is left out)."""
    examples, cut = [], 0
    for record in records:
        ids = path_format.encode(path_format.text(record["prompt"], record["completions"]))
        if ids.count(tag_id) != len(record["labels"]):
            raise ValueError(f"{record['problem_id']}: the step tag merged with a step's text: {record['completions']}")
        if len(ids) > max_length:
            cut += 1
            ids = ids[:max_length]
        kept = ids.count(tag_id)
        if kept:
            examples.append(Example(ids, record["labels"][:kept]))
    return examples, cut


def metrics(examples: list[Example], scores: list[list[float]], threshold: float) -> dict[str, Any]:
    """Held-out step labels against the scores: accuracy, precision, recall and F1 of the good and bad labels,
    first-error accuracy (the first step scored below the threshold, -1 if none, is the path's first bad label), and
    the AUROC of the scores for good steps (how well they rank, whatever the threshold)."""
    truth = [good for e in examples for good in e.labels]
    flat = [s for row in scores for s in row]
    said = [s >= threshold for s in flat]
    first = [
        first_error_step(e.labels) == first_error_step([s >= threshold for s in row])
        for e, row in zip(examples, scores, strict=True)
    ]
    return {
        "paths": len(examples),
        "steps": len(truth),
        "good_share": _share(truth),
        "accuracy": _share([t == s for t, s in zip(truth, said, strict=True)]),
        "good": _f1(truth, said, True),
        "bad": _f1(truth, said, False),
        "first_error_accuracy": _share(first),
        "good_auroc": auroc(truth, flat),
    }


def auroc(truth: list[bool], scores: list[float]) -> float | None:
    """The chance that a good step scores above a bad one, ties counted half (Mann-Whitney); None without both."""
    ranked = sorted(zip(scores, truth, strict=True))
    good = sum(truth)
    if not 0 < good < len(truth):
        return None
    rank_sum, start = 0.0, 0
    while start < len(ranked):  # tied scores share their mean rank
        end = start
        while end < len(ranked) and ranked[end][0] == ranked[start][0]:
            end += 1
        rank_sum += sum(t for _, t in ranked[start:end]) * (start + end + 1) / 2
        start = end
    return (rank_sum - good * (good + 1) / 2) / (good * (len(truth) - good))


def _f1(truth: list[bool], said: list[bool], label: bool) -> dict[str, float]:
    hits = sum(t == label and s == label for t, s in zip(truth, said, strict=True))
    precision = hits / max(1, sum(s == label for s in said))
    recall = hits / max(1, sum(t == label for t in truth))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0
