"""Conditions read from files: a training set written elsewhere (another format, an older version of one, a priming
variant) trained and reported beside the registry's, on the same training problems and prompts."""

from __future__ import annotations

import re
from pathlib import Path

from metacot.jsonl import MAX_RECORD, json_lines
from metacot.learn.splits import learn_prompt
from metacot.problems.countdown import CountdownProblem

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a condition's name is a folder name in the experiment


def check_external(external: dict[str, str], registry: list[str]) -> None:
    """Names that can be folders and shadow no registry condition, each with a file."""
    for name, path in external.items():
        if not NAME.fullmatch(name) or name in registry:
            raise ValueError(
                f"external: {name!r} is not a name for a condition from a file (letters, digits, '.', '_', '-'; "
                f"not one of {', '.join(registry)})"
            )
        if not isinstance(path, str) or not path:
            raise ValueError(f"external.{name}: expected the path of a JSONL file, got {path!r}")


def external_records(
    name: str, path: Path, train: list[CountdownProblem], trained: list[CountdownProblem]
) -> list[dict]:
    """The file's records ({"problem_id", "completion"} per line) as the condition's training records, in the order
    of `trained` (the problems every condition trains on; a file may leave some out), with the experiment's prompts.
    A record of a problem outside the training split is refused: a held-out one would leak into training."""
    completions = read_completions(path, {p.id for p in train})
    records = [
        {"problem_id": p.id, "prompt": learn_prompt(p), "completion": completions[p.id], "condition": name}
        for p in trained
        if p.id in completions
    ]
    if not records:
        raise ValueError(f"{path}: no record of a problem the conditions train on")
    return records


def read_completions(path: Path, train_ids: set[str]) -> dict[str, str]:
    """problem id -> completion, from a JSONL file; ValueError naming the file and line of a bad record."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file (a condition's training records, one JSON object per line)")
    out: dict[str, str] = {}
    for where, record in json_lines(path, ValueError, MAX_RECORD):
        if not isinstance(record, dict):
            raise ValueError(f"{where}: expected an object with problem_id and completion")
        problem_id, completion = record.get("problem_id"), record.get("completion")
        if not isinstance(problem_id, str) or not isinstance(completion, str):
            raise ValueError(f"{where}: expected string fields problem_id and completion")
        if problem_id not in train_ids:
            raise ValueError(f"{where}: {problem_id!r} is not a training problem of this experiment")
        if problem_id in out:
            raise ValueError(f"{where}: a second record of {problem_id!r}")
        out[problem_id] = completion
    return out
