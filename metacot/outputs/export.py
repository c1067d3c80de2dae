"""Exports from a saved run, without searching: training records per objective (optionally tokenized), PRM step
labels, preference pairs, each as a dataset folder with a card; and trace files as Parquet / HF datasets."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from metacot.backends.models import load_tokenizer
from metacot.linearize import LinearizeConfig
from metacot.linearize.formats import DEFAULT_FORMAT
from metacot.linearize.layout import PROMPT_COMPLETION, TEXT_KEYS, check_layout, text_keys_of
from metacot.outputs import bcsft, labels, objectives, omega, pairs
from metacot.outputs.bcsft import bc_sft_records
from metacot.outputs.card import Export, check_free, export_name, push_to_hub, save_export, staged
from metacot.outputs.files import naming
from metacot.outputs.labels import CONSENSUS, LabelRule, Tally, hard_labels, label_records
from metacot.outputs.objectives import objective_records
from metacot.outputs.omega import BINARY, Labelling, labelled, run_estimator
from metacot.outputs.pairs import PairOptions, pair_records
from metacot.outputs.quality import label_section, pair_section
from metacot.outputs.records import read_records
from metacot.outputs.rundir import RunDir, RunDirError, check_file_name
from metacot.outputs.tokenized import tokenize_record
from metacot.outputs.treestats import has_values
from metacot.outputs.truth import LabelCheck, PairCheck, Truths, check_labels, check_pairs
from metacot.progress import datasets_quiet, tree_bar
from metacot.tree import SearchTree

LICENSE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]*")  # a dataset card's license id: mit, cc-by-4.0, apache-2.0, other


@dataclass
class Destination:
    """Where and how an export is written: RUN/exports/<name>/ as `to`, with the card's license; pushed to the
    Hub dataset `push` when given; an export of the same options already there is replaced only with `overwrite`;
    with `progress`, a bar of the trees read on stderr."""

    to: str = "jsonl"
    license: str = "unknown"
    push: str | None = None
    overwrite: bool = False
    progress: bool = False

    def __post_init__(self) -> None:
        if not LICENSE.fullmatch(self.license):  # it goes into the card's YAML as it is
            raise ValueError(
                f"--license: expected a license identifier such as mit or cc-by-4.0 (letters, digits, '.', '+', '-',"
                f" '_'), got {self.license!r}"
            )


def export_objective(
    run_dir: str | Path,
    objective: str,
    fmt: str = DEFAULT_FORMAT,
    tokenizer: str | None = None,
    dest: Destination | None = None,
    layout: str | None = None,
) -> tuple[Path, Export]:
    """exports/<objective>-<fmt>[-tok-<tokenizer folder>][-messages]/: the run's records in a format shaped for an
    objective (outputs.objectives), with input_ids and completion_mask when a tokenizer path is given; in the record
    layout asked for, else the run's (tokenized: prompt-completion, the layout whose completion_mask SFTTrainer
    applies)."""
    check_file_name(fmt, "--format")
    if tokenizer is not None and layout not in (None, PROMPT_COMPLETION):
        raise ValueError(
            f"--record-layout {layout}: tokenized records are in the {PROMPT_COMPLETION} layout (SFTTrainer applies "
            "their completion_mask only in it); leave out --tokenizer or --record-layout"
        )
    tok = load_tokenizer(tokenizer, "--tokenizer") if tokenizer is not None else None
    layout = PROMPT_COMPLETION if tok is not None else record_layout(run_dir, layout)

    def build(directory: RunDir, name: str, trees: Iterable[SearchTree]) -> Export:
        domain, config = directory.domain(), run_linearize_config(directory, layout)
        counts = dict.fromkeys(("pruned extra records", "segments", "segments with loss"), 0)

        def records() -> Iterator[dict]:
            for tree in trees:
                for record in objective_records(tree, domain, config, fmt, objective):
                    if tok is not None:
                        record = {**record, **tokenize_record(record, tok)}
                    counts["pruned extra records"] += record["pruned"]
                    counts["segments"] += len(record["segments"])
                    counts["segments with loss"] += sum(s["loss"] for s in record["segments"])
                    yield record

        options = {"objective": objective, "format": fmt, "tokenizer": tokenizer, "record_layout": layout}
        return Export(
            name, f"Trace records for the {objective} objective", objectives.__doc__ or "", options, records(), counts
        )

    return _export(run_dir, objective, {"format": fmt, "tokenizer": tokenizer, "record_layout": layout}, build, dest)


def export_prm_labels(
    run_dir: str | Path, rule: LabelRule | None = None, layout: str = "stepwise", dest: Destination | None = None
) -> tuple[Path, Export]:
    """exports/prm-labels-<source>[-<pair>]-t<threshold>[-decisive]-<layout>/: step labels for every path to a leaf
    (outputs.labels), by default LabelRule()."""
    rule = rule or LabelRule()

    def build(directory: RunDir, name: str, trees: Iterable[SearchTree]) -> Export:
        domain, truths, check = directory.domain(), Truths(), LabelCheck()
        counts = dict.fromkeys(("steps", "good steps", "steps labelled", "steps dropped"), 0)

        def records() -> Iterator[dict]:
            found = "mc" not in rule.sources  # rollout counts, where the rule reads them
            for tree in truths.read(trees, domain, keep=False):
                found = found or has_values([tree], "mc")
                tally = Tally()
                made = list(label_records(tree, domain, rule, layout, tally))
                check_labels(made, truths, tally.dropped, check)
                steps = [good for r in made for good in hard_labels(r)]
                counts["steps"] += len(steps)
                counts["good steps"] += sum(steps)
                for key, n in tally.counts().items():
                    counts[key] += n
                yield from made
            if not found:  # nothing was written: no record has a value to label with
                raise RunDirError(
                    f"{directory.path}: no node has rollout counts; {rule.name} labels read the mc source, which "
                    "needs a run made with the rollout PRM (--prm rollout)"
                )

        options = {"label_source": rule.name, "threshold": rule.threshold, "decisive": rule.decisive, "layout": layout}
        title = f"PRM step labels ({rule.name} values, {layout} layout)"
        columns = (rule.name, rule.threshold_text)

        def checked() -> str:
            return label_section(check, truths, domain, columns, "mc" in rule.sources)

        return Export(name, title, labels.__doc__ or "", options, records(), counts, checked)

    pair = "-".join(rule.pair) if rule.source == CONSENSUS else None
    named = {"source": rule.source, "pair": pair, "threshold": rule.threshold, "decisive": rule.decisive}
    return _export(run_dir, "prm-labels", {**named, "layout": layout}, build, dest)


def export_omega_labels(
    run_dir: str | Path,
    rollouts: int | None = None,
    keep: bool = False,
    layout: str = "stepwise",
    dest: Destination | None = None,
) -> tuple[Path, Export]:
    """exports/prm-labels-omega[-r<rollouts>][-keep-estimates]-<layout>/: Monte Carlo step labels found by OmegaPRM's
    binary search for each path's first wrong step (outputs.omega), with the run's policy and rollout PRM settings,
    `rollouts` completions an estimate (None: the run's); with `keep`, reading the estimates the search left."""

    def build(directory: RunDir, name: str, trees: Iterable[SearchTree]) -> Export:
        domain, truths, check = directory.domain(), Truths(), LabelCheck()
        estimator, labelling = run_estimator(directory, domain, rollouts), Labelling(BINARY)
        counts: dict[str, int] = {}

        def records() -> Iterator[dict]:
            read = truths.read(trees, domain, keep=False)
            for made in labelled(read, domain, estimator, labelling, not keep, layout):
                check_labels(made, truths, check=check)
                yield from made
            counts["steps labelled"], counts["steps estimated"] = labelling.labelled, labelling.estimated
            counts["completions generated"] = labelling.rollouts

        def checked() -> str:
            # the Monte Carlo table describes the estimates the search left: those the labels read only with `keep`
            return label_section(check, truths, domain, ("mc (binary search)", "> 0"), mc=keep)

        options = {"label_source": "omega", "rollouts": rollouts, "keep_estimates": keep, "layout": layout}
        title = f"PRM step labels (OmegaPRM binary search on Monte Carlo estimates, {layout} layout)"
        return Export(name, title, omega.__doc__ or "", options, records(), counts, checked)

    named = {"source": "omega", "rollouts": rollouts, "keep_estimates": keep, "layout": layout}
    return _export(run_dir, "prm-labels", named, build, dest)


def export_pairs(
    run_dir: str | Path, options: PairOptions | None = None, source: str = "prm", dest: Destination | None = None
) -> tuple[Path, Export]:
    """exports/pairs-<source>-m<margin>[-single-scores][-unsolvable]/: step-level and trajectory-level preference
    pairs (outputs.pairs), by default PairOptions()."""
    options = options or PairOptions()

    def build(directory: RunDir, name: str, trees: Iterable[SearchTree]) -> Export:
        domain, truths = directory.domain(), Truths()
        counts: Counter[str] = Counter()
        checks: dict[str, PairCheck] = defaultdict(PairCheck)

        def records() -> Iterator[dict]:
            for tree in truths.read(trees, domain, keep=False):
                made = list(pair_records(tree, domain, options, source))
                check_pairs(made, truths, checks)
                counts.update(f"{r['kind']} pairs ({r['reason']})" for r in made)
                yield from made

        def checked() -> str:
            return pair_section(checks, truths, domain, source)

        named = {**asdict(options), "value_source": source}
        return Export(name, "Preference pairs", pairs.__doc__ or "", named, records(), counts, checked)

    named = {"source": source, "margin": options.margin, "single_scores": options.single_scores}
    return _export(run_dir, "pairs", {**named, "unsolvable": options.unsolvable}, build, dest)


def export_bc_sft(
    run_dir: str | Path, fmt: str = DEFAULT_FORMAT, dest: Destination | None = None, layout: str | None = None
) -> tuple[Path, Export]:
    """exports/bc-sft-<fmt>[-messages]/: a BCI run's traces with the behaviours left out of the prompt
    (outputs.bcsft), in the record layout asked for, else the run's; RunDirError for a run made without
    --behaviors."""
    check_file_name(fmt, "--format")

    def build(directory: RunDir, name: str, trees: Iterable[SearchTree]) -> Export:
        if directory.read_manifest().get("config", {}).get("behaviors", {}).get("handbook") is None:
            raise RunDirError(
                f"{directory.path}: not a behaviour-conditioned run (made without --behaviors); BC-SFT records "
                "come from a BCI run: `metacot synth --behaviors HANDBOOK ...`"
            )
        domain, config = directory.domain(), run_linearize_config(directory, layout)
        counts = {"trees without behaviours, left out": 0, "records citing a behaviour": 0}

        def records() -> Iterator[dict]:
            for tree in trees:
                counts["trees without behaviours, left out"] += not tree.behaviors
                for record in bc_sft_records(tree, domain, config, fmt):
                    counts["records citing a behaviour"] += bool(record["cited"])
                    yield record

        title = "BC-SFT records: behaviour-conditioned traces, behaviours left out of the prompt"
        options = {"format": fmt, "record_layout": layout}
        return Export(name, title, bcsft.__doc__ or "", options, records(), counts)

    layout = record_layout(run_dir, layout)
    return _export(run_dir, "bc-sft", {"format": fmt, "record_layout": layout}, build, dest)


def _export(
    run_dir: str | Path,
    kind: str,
    named: dict,
    build: Callable[[RunDir, str, Iterable[SearchTree]], Export],
    dest: Destination | None,
) -> tuple[Path, Export]:
    """Build the export (kind and `named`, the options that change what it holds, name its folder) and write it to
    RUN/exports/<name>/, refusing to replace an earlier one unless dest.overwrite; then push it, if asked."""
    dest = dest or Destination()
    name = export_name(kind, {**named, "to": dest.to})
    with RunDir(run_dir).lock() as directory:
        folder = directory.path / "exports" / name
        check_free(folder, dest.overwrite)
        export = build(directory, name, tree_bar(directory, dest.progress, "reading trees"))
        config = directory.read_manifest().get("config", {})
        try:
            save_export(export, folder, dest.to, config, dest.license)
        except OSError as error:
            raise naming(error, folder) from error
    if dest.push is not None:
        push_to_hub(folder, dest.to, dest.push)
    return folder, export


def record_layout(run_dir: str | Path, layout: str | None) -> str:
    """The record layout an export writes: the one asked for, else the run's."""
    return layout if layout is not None else run_linearize_config(RunDir(run_dir)).record_layout


def run_linearize_config(directory: RunDir, layout: str | None = None) -> LinearizeConfig:
    """The linearize settings the run's manifest records (defaults for any it does not), with the record layout
    asked for when one is."""
    table = directory.read_manifest().get("config", {}).get("linearize", {})
    known = {f.name for f in fields(LinearizeConfig)}
    config = LinearizeConfig(**{key: value for key, value in table.items() if key in known})
    return config if layout is None else replace(config, record_layout=layout)


def export_dataset(
    run_dir: str | Path, fmt: str, to: str, overwrite: bool = False, layout: str | None = None, progress: bool = False
) -> Path:
    """traces/<fmt>.jsonl as exports/<fmt>[-messages].parquet (to="parquet") or a saved HF dataset
    exports/<fmt>[-messages]/ (to="hf"), each record in the record layout asked for, else its own (a record of an
    older version carries both: prompt-completion); `fmt` must be a plain name (RunDirError naming the --parquet /
    --hf flag otherwise). An earlier one is replaced only with `overwrite`; `progress`: the datasets library's bars
    on stderr."""
    if to not in ("parquet", "hf"):
        raise ValueError(f"export: unknown target {to!r}; expected 'parquet' or 'hf'")
    check_file_name(fmt, f"--{to}")
    if layout is not None:
        check_layout(layout, "--record-layout")
    from datasets import Dataset  # an optional dependency (the math extra)
    from datasets.exceptions import DatasetGenerationError

    with RunDir(run_dir).lock() as directory, datasets_quiet(not progress):
        source = directory.traces_dir / f"{fmt}.jsonl"
        if not source.exists():
            raise RunDirError(f"{run_dir}: no traces/{fmt}.jsonl (run `metacot linearize {run_dir} --formats {fmt}`)")
        name = export_name(fmt, {"record_layout": layout})
        target = directory.path / "exports" / (f"{name}.parquet" if to == "parquet" else name)
        check_free(target, overwrite)
        with staged(target) as new:  # the dataset's cache files too, not in the HF cache: removed with the rest
            try:
                dataset = Dataset.from_json(str(source), cache_dir=str(new.parent / "cache"))
            except DatasetGenerationError as error:
                if isinstance(error.__cause__, OSError):  # writing its cache failed: a full disk
                    raise error.__cause__ from error
                for _ in read_records(source):  # a line that is no record: an error naming it
                    pass
                raise RunDirError(
                    f"{source}: its last line is unterminated (a write cut short); `metacot linearize {run_dir} "
                    f"--formats {fmt}` writes the file again"
                ) from None
            texts_in = [key for key in TEXT_KEYS if key in dataset.column_names]
            dataset = dataset.map(text_keys_of, fn_kwargs={"layout": layout}, remove_columns=texts_in)
            if to == "parquet":
                dataset.to_parquet(str(new))
            else:
                dataset.save_to_disk(str(new))
    return target
