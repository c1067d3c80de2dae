"""The `metacot bench learn` command (the "does the data teach search?" experiment, sized by --size, resumable) and
`metacot train-prm` (a PRM trained on a stepwise export)."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import Any

from metacot.flags import split_list
from metacot.learn.sizes import SIZES
from metacot.progress import add_progress_flag

LEARN_EPILOG = """\
examples:
  metacot bench learn --size smoke --out runs/learn-smoke        # the plumbing, in seconds
  metacot bench learn --size cpu --out runs/learn                # Countdown-3 on a CPU
  metacot bench learn --size gpu --out runs/learn-gpu            # Countdown-4 on one GPU
  metacot bench learn --size cpu --conditions cot,metacot-astar,empty --seeds 0,1 --set train.learning_rate=1e-3
  metacot bench learn --size cpu --conditions cot --evaluate-on validation --out runs/learn-tune   # choose settings
  metacot bench learn --size cpu --condition old-sos=old/conditions/sos.jsonl --versus sos:old-sos   # a file's data

Rerunning on the same --out resumes: finished trainings and evaluations are not done again."""

# flag -> (the LearnConfig key it sets, how its text is read, its help)
KNOBS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "--seeds": ("seeds", lambda text: [int(x) for x in split_list(text)], "comma-separated training seeds"),
    "--conditions": ("conditions", split_list, "comma-separated conditions (default: all)"),
    "--versus": ("versus", split_list, "comma-separated pairs A:B whose difference A - B the report shows"),
    "--num-numbers": ("num_numbers", int, "numbers per Countdown problem"),
    "--train-problems": ("train_problems", int, "problems searched for training"),
    "--heldout-problems": ("heldout_problems", int, "held-out problems whose target training has"),
    "--evaluate-on": ("evaluate_on", str, "heldout (default) or validation: choose hyperparameters with cot"),
    "--noise": ("noise", float, "the oracle PRM's flip probability while searching"),
    "--train-tokens": ("train.train_tokens", int, "training tokens per model (the same for every condition)"),
    "--epochs": (
        "train.epochs",
        float,
        "passes over each condition's records instead of --train-tokens: the equal-problems comparison",
    ),
    "--samples": ("eval.samples", int, "sampled answers per held-out problem"),
    "--threads": ("train.threads", int, "torch threads of each model's training and generation"),
    "--jobs": ("jobs", int, "models trained at once, each in its own process (e.g. --jobs 2 --threads 1)"),
}


def add_bench_learn(kinds: argparse._SubParsersAction) -> None:
    p = kinds.add_parser(
        "learn",
        help="does the data teach search? small models trained from scratch per trace format, held-out Countdown",
        description="Generate Countdown problems with disjoint training, validation and held-out splits, search the "
        "training problems once per strategy (symbolic policy, oracle PRM), write every condition's training "
        "set from the same trees, train one small model per condition and seed at the same number of training "
        "tokens, evaluate each on the held-out problems, and write results.jsonl, table.md and a plot into --out.",
        epilog=LEARN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", metavar="DIR", default="runs/learn", help="the experiment's folder (default: runs/learn)")
    p.add_argument("--size", choices=list(SIZES), default="cpu", help="the preset size (default: cpu)")
    for name, (_, _, help_text) in KNOBS.items():
        p.add_argument(name, metavar="VALUE", help=help_text)
    p.add_argument(
        "--condition",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="one more condition, from a JSONL of {problem_id, completion} records of the training problems "
        "(e.g. traces written by another version); repeatable",
    )
    add_set_flags(p, "train.learning_rate=1e-3")
    p.set_defaults(run=run_bench_learn)


def add_set_flags(p: argparse.ArgumentParser, example: str) -> None:
    """--set KEY=VALUE (read by set_overrides) and --no-progress."""
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"any setting, e.g. --set {example} (a TOML value; repeatable; applied after the flags)",
    )
    add_progress_flag(p)


def overrides(args: argparse.Namespace) -> dict:
    """The settings the command line gives, as a nested dict on top of the size's."""
    from metacot.config import ConfigError
    from metacot.learn.config import nested
    from metacot.presets import merged

    data: dict = {"out": args.out}
    for name, (key, read, _) in KNOBS.items():
        text = getattr(args, name.lstrip("-").replace("-", "_"))
        if text is not None:
            try:
                data = merged(data, nested(key, read(text)))
            except ValueError:
                raise ConfigError(f"{name}: cannot read {text!r}") from None
    for item in args.condition:
        name, eq, path = item.partition("=")
        if not eq or not name or not path:
            raise ConfigError(f"--condition {item!r}: expected NAME=FILE, e.g. old-sos=runs/old/conditions/sos.jsonl")
        data = merged(data, {"external": {name: path}})
    return merged(data, set_overrides(args.set, "train.learning_rate=1e-3"))


def set_overrides(items: list[str], example: str) -> dict:
    """The --set KEY=VALUE items (TOML values) as a nested dict."""
    from metacot.config import ConfigError, parse_value
    from metacot.learn.config import nested
    from metacot.presets import merged

    data: dict = {}
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. {example}")
        data = merged(data, nested(key.strip(), parse_value(text.strip())))
    return data


def run_bench_learn(args: argparse.Namespace) -> int:
    from metacot.learn.config import learn_config
    from metacot.learn.experiment import run_experiment
    from metacot.learn.report import TABLE

    config = learn_config(args.size, overrides(args))
    command = shlex.join(["metacot", *args.argv])
    result = run_experiment(config, command, progress=not args.no_progress)
    print((result.out / TABLE).read_text())
    print(
        f"{result.out}: {len(result.runs)} models ({result.trained} trained and {result.evaluated} evaluated now, "
        f"{result.seconds:.0f} s)"
    )
    return 0


TRAIN_PRM_EPILOG = """\
examples:
  metacot export runs/demo --prm-labels --label-source subtree   # exports/prm-labels-subtree-t0.5-stepwise/
  metacot train-prm runs/demo/exports/prm-labels-subtree-t0.5-stepwise --out runs/prm --steps 300
  metacot train-prm EXPORT --eval HELDOUT_EXPORT --set scratch.num_layers=4 --out runs/prm-4   # a larger model
  metacot train-prm EXPORT --model MODEL_DIR --learning-rate 1e-5 --out runs/prm-ft            # fine-tune a local LM
  metacot synth --prm transformers --prm-model runs/prm --num-problems 50 --out runs/with-prm"""


def _add_train_prm(commands: argparse._SubParsersAction) -> None:
    from metacot.flags import add_flags
    from metacot.learn.prmtrain import TrainPRMConfig

    p = commands.add_parser(
        "train-prm",
        help="train a step-tag PRM on a stepwise export; evaluate it on held-out problems",
        description="Train a process reward model on the step labels of `metacot export RUN --prm-labels` (TRL's "
        "stepwise layout: prompt, completions, labels): a small causal LM built from scratch with a character "
        "tokenizer, or a local model folder (--model), learns P(+) against P(-) at the step tag 'ки' after each "
        "step (Math-Shepherd's read-out). Writes the model, its tokenizer and metrics.json (held-out step-label "
        "F1 and first-error accuracy) into --out, a folder that `--prm transformers --prm-model DIR` loads as it is.",
        epilog=TRAIN_PRM_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("export", metavar="EXPORT", help="a stepwise --prm-labels export: its folder or data.jsonl")
    add_flags(p, TrainPRMConfig)
    add_set_flags(p, "scratch.hidden_size=128")
    p.set_defaults(run=run_train_prm)


def run_train_prm(args: argparse.Namespace) -> int:
    from metacot.flags import given_flags
    from metacot.learn.config import nested
    from metacot.learn.prmtrain import METRICS, TrainPRMConfig, train_prm, train_prm_config
    from metacot.presets import merged

    data: dict = {}
    for _, keys, value in given_flags(args, TrainPRMConfig):
        data = merged(data, nested(keys[0], value))
    config = train_prm_config(merged(data, set_overrides(args.set, "scratch.hidden_size=128")))
    result = train_prm(args.export, config, shlex.join(["metacot", *args.argv]), progress=not args.no_progress)
    heldout = result.metrics["heldout_metrics"]
    print(
        f"held out: {heldout['paths']} paths, {heldout['steps']} steps; step-label F1 good "
        f"{heldout['good']['f1']:.3f}, bad {heldout['bad']['f1']:.3f}; first-error accuracy "
        f"{heldout['first_error_accuracy']:.3f}; AUROC {heldout['good_auroc'] or float('nan'):.3f}"
    )
    print(f"{result.directory / METRICS}: metrics")
    print(f"{result.directory}: load it with --prm transformers --prm-model {result.directory}")
    return 0
