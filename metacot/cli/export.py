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
  metacot export runs/demo --prm-labels --label-source consensus --consensus prm,subtree --threshold 0.01
  metacot export runs/demo --prm-labels --label-source omega --rollouts 16    # exports/prm-labels-omega-r16-stepwise/
  metacot export runs/demo --pairs --margin 0.5 --to parquet       # exports/pairs-prm-m0.5-parquet/
  metacot export runs/demo --pairs --push-to-hub me/countdown-pairs    # also pushes it to the Hub
  metacot export runs/bci --bc-sft                                  # exports/bc-sft-metacot/
  metacot export runs/demo --hf metacot --record-layout messages    # exports/metacot-messages/: chat turns"""


def _add_export(commands) -> None:
    from metacot.linearize.layout import LAYOUT_HELP
    from metacot.linearize.layout import LAYOUTS as RECORD_LAYOUTS
    from metacot.outputs.card import TARGETS
    from metacot.outputs.labels import LAYOUTS, OMEGA, SOURCES
    from metacot.outputs.objectives import OBJECTIVES

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
    p.add_argument(
        "--label-source",
        choices=(*SOURCES, OMEGA),
        default="prm",
        help="--prm-labels/--pairs: step values; --prm-labels only: consensus (where two --consensus sources agree), "
        "omega (OmegaPRM's binary search for each path's first wrong step, rolling out with the run's policy)",
    )
    p.add_argument("--threshold", type=float, default=0.5, metavar="X", help="a step is good when its value >= X")
    p.add_argument(
        "--consensus",
        default="mc,subtree",
        metavar="A,B",
        help="--label-source consensus: the two sources whose hard labels must agree (default: mc,subtree)",
    )
    p.add_argument(
        "--decisive",
        action="store_true",
        help="--prm-labels: a hard label only where the value's 95%% interval lies wholly on one side of the "
        "threshold; a path's record ends before its first step without one (default: every step, value >= X)",
    )
    p.add_argument(
        "--rollouts",
        type=int,
        metavar="N",
        help="--label-source omega: completions an estimate (default: the run's prm.rollout.rollouts)",
    )
    _add_keep_flag(p, "--label-source omega: ")
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
    _add_pair_flags(p, "--pairs: ")
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
    from metacot.outputs.labels import OMEGA
    from metacot.outputs.treestats import LABEL_SOURCES

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
    if args.prm_labels and args.label_source == OMEGA:
        made.append(export.export_omega_labels(args.run_dir, args.rollouts, args.keep_estimates, args.layout, dest))
    elif args.prm_labels:
        made.append(export.export_prm_labels(args.run_dir, label_rule(args), args.layout, dest))
    if args.pairs:
        if args.label_source not in LABEL_SOURCES:
            raise ConfigError(
                f"export --pairs: --label-source {args.label_source} labels steps; pairs take a value "
                f"source: {', '.join(LABEL_SOURCES)}"
            )
        made.append(export.export_pairs(args.run_dir, pair_options(args), args.label_source, dest))
    if args.bc_sft:
        made.append(export.export_bc_sft(args.run_dir, args.format, dest, args.record_layout))
    for folder, result in made:
        counts = ", ".join(f"{count} {what}" for what, count in result.counts.items())
        print(f"{folder}: {result.written} records ({counts})")
    for fmt, to in ((args.parquet, "parquet"), (args.hf, "hf")):
        if fmt is not None:
            progress = not args.no_progress
            print(export.export_dataset(args.run_dir, fmt, to, args.overwrite, args.record_layout, progress))
    return 0


def _add_keep_flag(p: argparse.ArgumentParser, scope: str) -> None:
    p.add_argument(
        "--keep-estimates",
        action="store_true",
        help=f"{scope}read the Monte Carlo estimates the search left on the nodes instead of rolling out afresh",
    )


def label_rule(args: argparse.Namespace):
    from metacot.outputs.labels import LabelRule

    pair = tuple(name.strip() for name in args.consensus.split(","))
    return LabelRule(args.label_source, args.threshold, args.decisive, pair)


def _add_pair_flags(p: argparse.ArgumentParser, scope: str) -> None:
    p.add_argument("--margin", type=float, default=0.3, metavar="M", help=f"{scope}least value gap of a step pair")
    p.add_argument(
        "--single-scores",
        action="store_true",
        help=f"{scope}also value_gap pairs from single PRM scores, which have no interval (as noisy as the PRM)",
    )
    p.add_argument(
        "--unsolvable-pairs",
        action="store_true",
        help=f"{scope}also pairs from problems the domain finds have no solution (every step there is wrong)",
    )


def pair_options(args: argparse.Namespace):
    from metacot.outputs.pairs import PairOptions

    return PairOptions(args.margin, single_scores=args.single_scores, unsolvable=args.unsolvable_pairs)


def _add_labels(commands) -> None:
    p = commands.add_parser(
        "labels",
        help="how right a run's PRM labels and preference pairs are, against the domain's exact truth",
        description="Check the step labels of every label source the run has values for, at each threshold, and "
        "the preference pairs each source gives, against the truth the domain decides (Countdown: whether a step's "
        "path is right and the target still reachable): precision and recall of good and bad labels by depth, the "
        "Monte Carlo estimates' error by rollouts, and pairs whose chosen step is truly better, inverted or wrong. "
        "Prints Markdown tables; each export's dataset card carries its own.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--threshold", type=float, nargs="+", default=[0.5], metavar="X", help="hard-label thresholds")
    _add_pair_flags(p, "pairs: ")
    p.add_argument(
        "--omega",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="also label by OmegaPRM's binary search and by estimating every step, N rollouts an estimate, with the "
        "run's policy: completions per labelled step and accuracy of each",
    )
    _add_keep_flag(p, "--omega: ")
    p.set_defaults(run=run_labels)


def run_labels(args: argparse.Namespace) -> int:
    from metacot.outputs.quality import run_report

    report = run_report(args.run_dir, args.threshold, pair_options(args), args.omega, args.keep_estimates)
    print(report, end="")
    return 0
