"""Exports from a saved run, without searching: training records per objective (optionally tokenized), PRM step
labels, preference pairs, each as a dataset folder with a card; and trace files as Parquet / HF datasets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from metacot.linearize import LinearizeConfig
from metacot.outputs import bcsft, labels, objectives, pairs
from metacot.outputs.bcsft import bc_sft_records
from metacot.outputs.card import Export, push_to_hub, save_export
from metacot.outputs.labels import label_records
from metacot.outputs.objectives import objective_records
from metacot.outputs.pairs import pair_records
from metacot.outputs.rundir import RunDir, RunDirError, check_file_name
from metacot.outputs.tokenized import load_tokenizer, tokenize_record
from metacot.outputs.treestats import LABEL_SOURCES, mc_value
from metacot.progress import tree_bar
from metacot.tree import SearchTree


@dataclass
class Destination:
    """Where and how an export is written: RUN/exports/<name>/ as `to`, with the card's license; pushed to the
    Hub dataset `push` when given; with `progress`, a bar of the trees read on stderr."""

    to: str = "jsonl"
    license: str = "unknown"
    push: str | None = None
    progress: bool = False


def export_objective(
    run_dir: str | Path,
    objective: str,
    fmt: str = "metacot",
    tokenizer: str | None = None,
    dest: Destination | None = None,
) -> tuple[Path, Export]:
    """exports/<objective>-<fmt>[-tokenized]/: the run's records in a format shaped for an objective
    (outputs.objectives), with input_ids and completion_mask when a tokenizer path is given."""
    check_file_name(fmt, "--format")
    tok = load_tokenizer(tokenizer) if tokenizer is not None else None

    def build(directory: RunDir, trees: Iterable[SearchTree]) -> Export:
        domain, config = directory.domain(), run_linearize_config(directory)
        records = [r for tree in trees for r in objective_records(tree, domain, config, fmt, objective)]
        if tok is not None:
            records = [{**r, **tokenize_record(r, tok)} for r in records]
        segments = [s for r in records for s in r["segments"]]
        counts = {
            "pruned extra records": sum(r["pruned"] for r in records),
            "segments": len(segments),
            "segments with loss": sum(s["loss"] for s in segments),
        }
        name = f"{objective}-{fmt}" + ("-tokenized" if tok is not None else "")
        options = {"objective": objective, "format": fmt, "tokenizer": tokenizer}
        return Export(
            name, f"Trace records for the {objective} objective", objectives.__doc__ or "", options, records, counts
        )

    return _export(run_dir, build, dest)


def export_prm_labels(
    run_dir: str | Path,
    source: str = "prm",
    threshold: float = 0.5,
    layout: str = "stepwise",
    dest: Destination | None = None,
) -> tuple[Path, Export]:
    """exports/prm-labels-<source>-<layout>/: step labels for every path to a leaf (outputs.labels)."""
    if source not in LABEL_SOURCES:
        raise ValueError(f"--label-source: unknown {source!r}; expected one of {', '.join(LABEL_SOURCES)}")
    if not 0 < threshold <= 1:
        raise ValueError(f"--threshold: expected a number in (0, 1], got {threshold}")

    def build(directory: RunDir, trees: Iterable[SearchTree]) -> Export:
        domain = directory.domain()
        trees = list(trees)
        if source == "mc" and not any(mc_value(n) is not None for tree in trees for n in tree.nodes):
            raise RunDirError(
                f"{directory.path}: no node has rollout counts; --label-source mc needs a run made "
                "with the rollout PRM (--prm rollout)"
            )
        records = [r for tree in trees for r in label_records(tree, domain, source, threshold, layout)]
        steps = [v >= threshold for r in records for v in r["soft_labels"]]
        counts = {"steps": len(steps), "good steps": sum(steps)}
        options = {"label_source": source, "threshold": threshold, "layout": layout}
        title = f"PRM step labels ({source} values, {layout} layout)"
        return Export(f"prm-labels-{source}-{layout}", title, labels.__doc__ or "", options, records, counts)

    return _export(run_dir, build, dest)


def export_pairs(
    run_dir: str | Path, margin: float = 0.3, source: str = "prm", dest: Destination | None = None
) -> tuple[Path, Export]:
    """exports/pairs/: step-level and trajectory-level preference pairs (outputs.pairs)."""

    def build(directory: RunDir, trees: Iterable[SearchTree]) -> Export:
        domain = directory.domain()
        records = [r for tree in trees for r in pair_records(tree, domain, margin, source)]
        counts = dict(Counter(f"{r['kind']} pairs ({r['reason']})" for r in records))
        options = {"margin": margin, "value_source": source}
        return Export("pairs", "Preference pairs", pairs.__doc__ or "", options, records, counts)

    return _export(run_dir, build, dest)


def export_bc_sft(run_dir: str | Path, fmt: str = "metacot", dest: Destination | None = None) -> tuple[Path, Export]:
    """exports/bc-sft-<fmt>/: a BCI run's traces with the behaviours left out of the prompt (outputs.bcsft);
    RunDirError for a run made without --behaviors."""
    check_file_name(fmt, "--format")

    def build(directory: RunDir, trees: Iterable[SearchTree]) -> Export:
        if directory.read_manifest().get("config", {}).get("behaviors", {}).get("handbook") is None:
            raise RunDirError(
                f"{directory.path}: not a behaviour-conditioned run (made without --behaviors); BC-SFT records "
                "come from a BCI run: `metacot synth --behaviors HANDBOOK ...`"
            )
        domain, config = directory.domain(), run_linearize_config(directory)
        trees = list(trees)
        records = [r for tree in trees for r in bc_sft_records(tree, domain, config, fmt)]
        counts = {
            "trees without behaviours, left out": sum(not t.behaviors for t in trees),
            "records citing a behaviour": sum(bool(r["cited"]) for r in records),
        }
        title = "BC-SFT records: behaviour-conditioned traces, behaviours left out of the prompt"
        return Export(f"bc-sft-{fmt}", title, bcsft.__doc__ or "", {"format": fmt}, records, counts)

    return _export(run_dir, build, dest)


def _export(
    run_dir: str | Path, build: Callable[[RunDir, Iterable[SearchTree]], Export], dest: Destination | None
) -> tuple[Path, Export]:
    dest = dest or Destination()
    with RunDir(run_dir).lock() as directory:
        export = build(directory, tree_bar(directory, dest.progress, "reading trees"))
        config = directory.read_manifest().get("config", {})
        folder = save_export(export, directory.path / "exports" / export.name, dest.to, config, dest.license)
    if dest.push is not None:
        push_to_hub(export, folder, dest.push)
    return folder, export


def run_linearize_config(directory: RunDir) -> LinearizeConfig:
    """The linearize settings the run's manifest records (defaults for any it does not)."""
    table = directory.read_manifest().get("config", {}).get("linearize", {})
    known = {f.name for f in fields(LinearizeConfig)}
    return LinearizeConfig(**{key: value for key, value in table.items() if key in known})


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
