"""The `metacot export` command: training data from a saved run."""

from __future__ import annotations

import argparse

from metacot.config import ConfigError
from metacot.linearize.formats import DEFAULT_FORMAT
from metacot.progress import add_progress_flag

EXPORT_EPILOG = """\
examples (each writes RUN_DIR/exports/NAME/ with the records and a README.md dataset card; NAME carries the options
that change what it holds, and an export of the same options is replaced only with --overwrite):
  metacot export runs/demo --objective on_path                     # exports/on_path-metacot/
  metacot export runs/demo --objective on_path --tokenizer MODEL_DIR   # exports/on_path-metacot-tok-MODEL_DIR/
  metacot export runs/demo --prm-labels --label-source mc --layout math-shepherd   # prm-labels-mc-t0.5-math-shepherd/
  metacot export runs/demo --pairs --margin 0.5 --to parquet       # exports/pairs-prm-m0.5-parquet/
  metacot export runs/demo --pairs --push-to-hub me/countdown-pairs    # also pushes it to the Hub
  metacot export runs/bci --bc-sft                                  # exports/bc-sft-metacot/
  metacot export runs/demo --hf metacot --record-layout messages    # exports/metacot-messages/: chat turns"""


def _add_export(commands) -> None:
    from metacot.linearize.layout import LAYOUT_HELP
    from metacot.linearize.layout import LAYOUTS as RECORD_LAYOUTS
    from metacot.outputs.card import TARGETS
    from metacot.outputs.labels import LAYOUTS
    from metacot.outputs.objectives import OBJECTIVES
    from metacot.outputs.treestats import LABEL_SOURCES

    p = commands.add_parser(
        "export",
        help="training data from a saved run: objective records, PRM step labels, preference pairs, datasets",
        description="Export from a run directory without searching: trace records shaped for a training objective "
        "(optionally tokenized for TRL's SFTTrainer), PRM step labels, or preference pairs for DPO, each as a "
        "dataset folder with a card; or one trace format as RUN_DIR/exports/<format>.parquet or a saved Hugging "
        "Face dataset.",
        epilog=EXPORT_EPILOG,
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--objective", choices=OBJECTIVES, help="trace records with per-segment loss flags for it")
    p.add_argument("--format", default=DEFAULT_FORMAT, metavar="FMT", help="--objective/--bc-sft: the trace format")
    p.add_argument("--tokenizer", metavar="PATH", help="--objective: add input_ids and completion_mask")
    p.add_argument("--prm-labels", action="store_true", help="step labels for every path to a leaf")
    p.add_argument("--label-source", choices=LABEL_SOURCES, default="prm", help="--prm-labels/--pairs: step values")
    p.add_argument("--threshold", type=float, default=0.5, metavar="X", help="a step is good when its value >= X")
    p.add_argument("--layout", choices=LAYOUTS, default="stepwise", help="--prm-labels: record layout")
    p.add_argument(
        "--record-layout",
        choices=RECORD_LAYOUTS,
        help=f"--objective/--bc-sft/--parquet/--hf: {LAYOUT_HELP} (default: as the run writes them; --parquet/--hf: "
        "as the trace file has them, prompt-completion for records of older versions, which had both; --tokenizer: "
        "prompt-completion, whose completion_mask SFTTrainer applies)",
    )
    p.add_argument("--pairs", action="store_true", help="step-level and trajectory-level preference pairs")
    p.add_argument("--bc-sft", action="store_true", help="a BCI run's traces, the behaviours left out of the prompt")
    p.add_argument("--margin", type=float, default=0.3, metavar="M", help="--pairs: least value gap of a step pair")
    p.add_argument("--to", choices=TARGETS, default="jsonl", help="how the records are written")
    p.add_argument("--license", default="unknown", help="the license field of the dataset card")
    p.add_argument("--push-to-hub", metavar="REPO", help="also push the dataset and its card to this Hub repo")
    p.add_argument("--overwrite", action="store_true", help="replace an export of the same options already there")
    p.add_argument("--parquet", metavar="FORMAT", help="write exports/FORMAT.parquet from traces/FORMAT.jsonl")
    p.add_argument("--hf", metavar="FORMAT", help="save traces/FORMAT.jsonl as a Hugging Face dataset folder")
    add_progress_flag(p)
    p.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    from metacot.outputs import export

    if (
        not (args.objective or args.prm_labels or args.pairs or args.bc_sft)
        and args.parquet is None
        and args.hf is None
    ):
        raise ConfigError(
            "export: say what to export: --objective NAME, --prm-labels, --pairs, --bc-sft, --parquet FORMAT or "
            "--hf FORMAT"
        )
    dest = export.Destination(args.to, args.license, args.push_to_hub, args.overwrite, not args.no_progress)
    made = []
    if args.objective:
        made.append(
            export.export_objective(args.run_dir, args.objective, args.format, args.tokenizer, dest, args.record_layout)
        )
    if args.prm_labels:
        made.append(export.export_prm_labels(args.run_dir, args.label_source, args.threshold, args.layout, dest))
    if args.pairs:
        made.append(export.export_pairs(args.run_dir, args.margin, args.label_source, dest))
    if args.bc_sft:
        made.append(export.export_bc_sft(args.run_dir, args.format, dest, args.record_layout))
    for folder, result in made:
        counts = ", ".join(f"{count} {what}" for what, count in result.counts.items())
        print(f"{folder}: {result.written} records ({counts})")
    for fmt, to in ((args.parquet, "parquet"), (args.hf, "hf")):
        if fmt is not None:
            print(export.export_dataset(args.run_dir, fmt, to, args.overwrite, args.record_layout))
    return 0
