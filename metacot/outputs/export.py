"""Exports from a run directory: PRM step labels for TRL's stepwise supervision, Parquet / HF datasets of traces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from metacot.outputs.rundir import RunDir, RunDirError, check_file_name
from metacot.problems.base import Domain
from metacot.tree import Node, SearchTree


def prm_label_records(tree: SearchTree, domain: Domain, threshold: float = 0.5) -> Iterator[dict]:
    """One record per scored leaf: the path's steps with a label per step (TRL's stepwise supervision layout:
    prompt, completions, labels), plus the raw scores. Terminal steps are labelled by the verifier; a wrong result
    taken at face value (a node's `slip`) and every step after it are labelled wrong, whatever their scores. A path
    whose answer the check could not decide is left out: it has no label."""
    problem = domain.problem_from_dict(tree.problem)
    prompt = domain.prompt(problem)
    for leaf in tree.nodes[1:]:
        if leaf.children or leaf.score is None or leaf.undecided:
            continue
        path = [tree.nodes[i] for i in tree.path_to(leaf.id)[1:]]
        if any(n.score is None for n in path):
            continue
        slip = tree.first_slip(leaf.id)
        wrong_from = len(path) if slip is None else tree.nodes[slip].depth - 1
        yield {
            "problem_id": tree.problem_id,
            "prompt": prompt,
            "completions": [n.step for n in path],
            "labels": [i < wrong_from and _label(n, threshold) for i, n in enumerate(path)],
            "scores": [n.score for n in path],
        }


def _label(node: Node, threshold: float) -> bool:
    if node.error is not None:
        return False
    if node.terminal:
        return bool(node.correct)
    return node.score is not None and node.score >= threshold


def export_prm_labels(run_dir: str | Path, threshold: float = 0.5) -> tuple[Path, int]:
    """Write traces/prm_labels.jsonl from every saved tree; returns the path and the record count."""
    with RunDir(run_dir).lock() as directory:
        domain = directory.domain()
        count = 0
        with directory.open_traces("prm_labels") as out:
            for tree in directory.iter_trees():
                for record in prm_label_records(tree, domain, threshold):
                    out.write(orjson.dumps(record) + b"\n")
                    count += 1
    return directory.traces_dir / "prm_labels.jsonl", count


def export_dataset(run_dir: str | Path, fmt: str, to: str) -> Path:
    """traces/<fmt>.jsonl as exports/<fmt>.parquet (to="parquet") or a saved HF dataset (to="hf"); `fmt` must be
    a plain name (RunDirError naming the --parquet / --hf flag otherwise)."""
    if to not in ("parquet", "hf"):
        raise ValueError(f"export: unknown target {to!r}; expected 'parquet' or 'hf'")
    check_file_name(fmt, f"--{to}")
    from datasets import Dataset  # an optional dependency (the math extra)

    with RunDir(run_dir).lock() as directory:
        source = directory.traces_dir / f"{fmt}.jsonl"
        if not source.exists():
            raise RunDirError(f"{run_dir}: no traces/{fmt}.jsonl (run `metacot linearize {run_dir} --formats {fmt}`)")
        dataset = Dataset.from_json(str(source))
        target = directory.path / "exports" / (f"{fmt}.parquet" if to == "parquet" else fmt)
        target.parent.mkdir(parents=True, exist_ok=True)
        if to == "parquet":
            dataset.to_parquet(str(target))
        else:
            dataset.save_to_disk(str(target))
    return target
