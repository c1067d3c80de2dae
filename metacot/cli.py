"""The `metacot` command: synth, linearize, show, view, audit, export, prime, behaviors, handbook, improve, bench."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import suppress
from dataclasses import replace

import orjson

from metacot.config import (
    SELECTORS,
    ConfigError,
    SynthConfig,
    check_key,
    checked,
    in_use,
    load_config,
    parse_value,
    set_key,
)
from metacot.flags import add_flags, dest, get, given_flags, split_list
from metacot.linearize import FORMATS, LinearizeConfig
from metacot.linearize.config import FORMATS_HELP
from metacot.outputs.rundir import RunDirError
from metacot.search.breaker import RunStopped
from metacot.stop import Interrupted, interruptible

log = logging.getLogger("metacot")

DESCRIPTION = """\
Synthesize Meta-CoT training data by search: MCTS or A* explores reasoning steps proposed by a
policy and scored by a process reward model, keeps the whole tree, and writes it out as training
strings with the dead ends and backtracks included.

With no model at all, `metacot synth` runs the built-in Countdown game: a symbolic policy proposes
arithmetic steps (some of them wrong, on purpose) and a noisy exact oracle scores them."""

SYNTH_EPILOG = """\
examples:
  metacot synth                                   # 100 Countdown-4 problems, MCTS, into runs/demo
  metacot synth --search astar --out runs/astar   # the same with A*
  metacot synth --target 24 --low 1 --high 13     # Game of 24
  metacot synth --problems my.jsonl               # your own {"numbers": [...], "target": N} lines
  metacot synth --config run.toml                 # every setting from a TOML file; flags override it

Rerunning the same command on the same --out resumes: finished problems are skipped, and searches that
failed for a backend error are searched again (--no-retry-failed keeps them as they are)."""


# The extra that installs each optional dependency (pyproject.toml's optional-dependencies).
EXTRAS = {
    "torch": "hf",
    "transformers": "hf",
    "tokenizers": "hf",
    "vllm": "vllm",
    "openai": "openai",
    "datasets": "math",
    "pyarrow": "math",
    "math_verify": "math",
    "matplotlib": "bench",
    "huggingface_hub": "math",
    "sklearn": "handbook",
    "sentence_transformers": "handbook",
    "ray": "ray",
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with interruptible():
            code = args.run(args)
            sys.stdout.flush()  # into a pipe, print only buffers: a closed pipe shows here, not at exit
            return code
    except BrokenPipeError:  # `metacot ... | head`: the reader is gone, which is not an error
        _silence_stdout()
        return 141
    except BaseException as error:
        explained = None if args.debug else explain(error)
        if explained is None:
            raise
        message, code = explained
        print(f"metacot: {message}", file=sys.stderr)
        return code


def explain(error: BaseException) -> tuple[str, int] | None:
    """One line and an exit code for an expected failure; None for a bug (its traceback is shown)."""
    if isinstance(error, Interrupted):
        done = f"; {error.done}" if error.done else ""
        return f"stopped{done}; rerun the same command to resume", error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return "stopped", 130
    if isinstance(error, RunStopped):
        return str(error), 1
    if isinstance(error, ImportError) and (extra := EXTRAS.get((error.name or "").split(".")[0])):
        return f"{error.name} is not installed: install metacot[{extra}] (pip install 'metacot[{extra}]')", 2
    if isinstance(error, OSError) and error.filename is not None:
        return f"error: {error.filename}: {error.strerror or error}", 2
    if isinstance(error, (ConfigError, RunDirError, ValueError)):
        return f"error: {error}", 2
    if isinstance(error, MemoryError):
        return "error: out of memory (an input too large to hold?); --debug shows where", 2
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail on the closed pipe again."""
    with suppress(OSError, ValueError):  # no real stdout (a test's captured one): nothing will flush into a pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metacot", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help="show a traceback for every error, not one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth(commands)
    _add_linearize(commands)
    _add_show(commands)
    _add_view(commands)
    _add_audit(commands)
    _add_export(commands)
    _add_prime(commands)
    _add_bench(commands)
    _add_handbook(commands)
    _add_improve(commands)
    _add_behaviors(commands)
    return parser


def _add_synth(commands) -> None:
    p = commands.add_parser(
        "synth",
        help="search problems and write trees and traces to a run directory",
        description="Search every problem, save each search tree, then linearize the trees into traces.",
        epilog=SYNTH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_synth_flags(p)
    p.add_argument(
        "--no-retry-failed",
        action="store_true",
        help="on a rerun, keep the searches that failed for a backend error instead of searching them again",
    )
    p.set_defaults(run=run_synth)


def add_synth_flags(p: argparse.ArgumentParser) -> None:
    """The flags that make a SynthConfig (synth_config reads them), shared by synth and bench backends: --config,
    --set, and one flag per flagged config field (see metacot.flags), grouped by section."""
    p.add_argument("--config", metavar="FILE", help="TOML config file (see README); flags override it")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config key, e.g. --set search.mcts.c_puct=1.5 (a TOML value; repeatable; applied after the flags)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_flags(p, SynthConfig)


def synth_config(args: argparse.Namespace, base: SynthConfig | None = None) -> SynthConfig:
    """The preset, then the config file (or defaults, or `base`), then the flags, then --set; checked as a whole."""
    config = base if base is not None else load_config(args.config, getattr(args, dest("--preset")))
    given = list(given_flags(args, SynthConfig))
    for name, keys, value in given:
        for key in keys:
            set_key(config, key, value, name)
    apply_sets(config, args.set, "search.mcts.c_puct=1.5")
    for name, keys, _ in given:
        used = [key for key in keys if in_use(config, key)]
        if not used:
            section = keys[0].split(".")[0]
            chosen = f"{section}.{SELECTORS[section]} ({get(config, f'{section}.{SELECTORS[section]}')!r})"
            log.warning("%s sets %s, which the chosen %s does not use: ignored", name, ", ".join(keys), chosen)
        for key in used:
            check_key(config, key, name)
    return checked(config)


def apply_sets(config: object, items: list[str], example: str) -> None:
    """Each --set KEY=VALUE (a TOML value) on the config, checked by its section."""
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. {example}")
        set_key(config, key, parse_value(text.strip()), f"--set {key}")
        check_key(config, key, f"--set {key}")


def run_synth(args: argparse.Namespace) -> int:
    from metacot.synth import synth

    config = synth_config(args)
    result = synth(config, progress=not args.no_progress, retry_failed=not args.no_retry_failed)
    stats = result.stats
    retried = f" ({result.retried} failed before, retried)" if result.retried else ""
    print(
        f"{config.out}: {stats['problems']} problems, {stats['solved']} solved "
        f"({stats['solve_rate']:.0%}), {stats['mean_nodes']:.1f} nodes per tree; "
        f"searched {result.searched}{retried} now in {result.seconds:.1f} s"
    )
    if stats["failed"]:
        print(
            f"  {stats['failed']} searches failed (a backend error; the reason is in their trees' 'failed' field; "
            "rerunning the same command retries them)"
        )
    if result.runner.missing_proposals:
        print(f"  {result.runner.missing_proposals} proposals missing: the policy returned fewer than asked for")
    for fmt, summary in stats["formats"].items():
        print(
            f"  traces/{fmt}.jsonl: {summary['records']} records, "
            f"{summary['with_backtracks']} with backtracks, {summary['mean_backtracks']:.2f} backtracks on average"
        )
    return 0


def _add_linearize(commands) -> None:
    p = commands.add_parser(
        "linearize",
        help="rewrite a run's traces from its saved trees, in other formats or with other options",
        description="Linearize saved search trees again without searching (writes RUN_DIR/traces/*.jsonl).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--formats", metavar="LIST", help=FORMATS_HELP)
    p.add_argument("--include-unsolved", action="store_true", help="also write searches that found no solution")
    p.add_argument("--max-backtracks", type=int, metavar="N", help="skip traces with more backtracks than this")
    p.add_argument("--full-trace", action="store_true", help="keep the trace after the first verified solution")
    p.add_argument("--value-lines", action="store_true", help="metacot: a PRM value line after every step")
    p.add_argument("--no-think-tags", action="store_true", help="no <think>/<answer> tags; end with 'Answer: ...'")
    p.set_defaults(run=run_linearize)


def run_linearize(args: argparse.Namespace) -> int:
    from metacot.synth import relinearize

    config = LinearizeConfig(
        stop_at_first_solution=not args.full_trace,
        max_backtracks=args.max_backtracks,
        include_unsolved=args.include_unsolved,
        value_lines=args.value_lines,
        think_tags=not args.no_think_tags,
    )
    if args.formats is not None:
        config = replace(config, formats=split_list(args.formats))
    stats = relinearize(args.run_dir, config)
    for fmt, summary in stats["formats"].items():
        print(f"{args.run_dir}/traces/{fmt}.jsonl: {summary['records']} records")
    return 0


EXPORT_EPILOG = """\
examples (each writes RUN_DIR/exports/NAME/ with the records and a README.md dataset card):
  metacot export runs/demo --objective on_path                     # off-path segments flagged loss=false
  metacot export runs/demo --objective on_path --tokenizer MODEL_DIR   # input_ids + completion_mask for TRL
  metacot export runs/demo --prm-labels --label-source mc --layout math-shepherd
  metacot export runs/demo --pairs --margin 0.5 --to parquet
  metacot export runs/demo --pairs --push-to-hub me/countdown-pairs    # also pushes it to the Hub
  metacot export runs/bci --bc-sft                                  # BCI traces, behaviours not in the prompt"""


def _add_export(commands) -> None:
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
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--objective", choices=OBJECTIVES, help="trace records with per-segment loss flags for it")
    p.add_argument(
        "--format", default="metacot", metavar="FMT", help="--objective/--bc-sft: the trace format (metacot)"
    )
    p.add_argument("--tokenizer", metavar="PATH", help="--objective: add input_ids and completion_mask")
    p.add_argument("--prm-labels", action="store_true", help="step labels for every path to a leaf")
    p.add_argument("--label-source", choices=LABEL_SOURCES, default="prm", help="--prm-labels/--pairs: step values")
    p.add_argument("--threshold", type=float, default=0.5, metavar="X", help="a step is good when its value >= X")
    p.add_argument("--layout", choices=LAYOUTS, default="stepwise", help="--prm-labels: record layout")
    p.add_argument("--pairs", action="store_true", help="step-level and trajectory-level preference pairs")
    p.add_argument("--bc-sft", action="store_true", help="a BCI run's traces, the behaviours left out of the prompt")
    p.add_argument("--margin", type=float, default=0.3, metavar="M", help="--pairs: least value gap of a step pair")
    p.add_argument("--to", choices=TARGETS, default="jsonl", help="how the records are written (jsonl)")
    p.add_argument("--license", default="unknown", help="the license field of the dataset card")
    p.add_argument("--push-to-hub", metavar="REPO", help="also push the dataset and its card to this Hub repo")
    p.add_argument("--parquet", metavar="FORMAT", help="write exports/FORMAT.parquet from traces/FORMAT.jsonl")
    p.add_argument("--hf", metavar="FORMAT", help="save traces/FORMAT.jsonl as a Hugging Face dataset folder")
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
    dest = export.Destination(args.to, args.license, args.push_to_hub)
    made = []
    if args.objective:
        made.append(export.export_objective(args.run_dir, args.objective, args.format, args.tokenizer, dest))
    if args.prm_labels:
        made.append(export.export_prm_labels(args.run_dir, args.label_source, args.threshold, args.layout, dest))
    if args.pairs:
        made.append(export.export_pairs(args.run_dir, args.margin, args.label_source, dest))
    if args.bc_sft:
        made.append(export.export_bc_sft(args.run_dir, args.format, dest))
    for folder, result in made:
        counts = ", ".join(f"{count} {what}" for what, count in result.counts.items())
        print(f"{folder}: {len(result.records)} records ({counts})")
    for fmt, to in ((args.parquet, "parquet"), (args.hf, "hf")):
        if fmt is not None:
            print(export.export_dataset(args.run_dir, fmt, to))
    return 0


def _add_prime(commands) -> None:
    from metacot.behaviors.variants import VARIANTS

    p = commands.add_parser(
        "prime",
        help="priming datasets from a run's trees: SFT records that show chosen cognitive behaviours",
        description="Write SFT records (prompt, completion, messages, answer, correct, per-record behaviour counts) "
        "for a priming condition of the cognitive-behaviours study, into RUN_DIR/prime/<variant>.jsonl. "
        f"Variants: {', '.join(VARIANTS)}; 'all' writes each one the run's domain can write.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--variant", required=True, metavar="V", help="a variant, or 'all'")
    p.add_argument("--records", type=int, metavar="N", help="records to write (default: one per usable tree)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="which trees and finished paths are drawn")
    p.add_argument("--sizes", metavar="LIST", help="Countdown sizes and weights: '4' or '3:1,4:3' (numbers:weight)")
    p.add_argument("--max-wrong", type=int, default=3, metavar="N", help="wrong finished paths before the answer")
    p.add_argument("--tokenizer", metavar="PATH", help="dots_cot: match lengths in this local tokenizer's tokens")
    p.add_argument("--out", metavar="FILE", help="output file (one variant only)")
    p.add_argument(
        "--report",
        action="store_true",
        help="print the habit table (structural tagger); exit 1 if a variant breaks its rule",
    )
    p.set_defaults(run=run_prime)


def run_prime(args: argparse.Namespace) -> int:
    from metacot.behaviors.prime import PrimeOptions, parse_sizes, variants_for, write_prime
    from metacot.behaviors.prime_report import format_table, habit_table

    names = variants_for(args.run_dir, args.variant)
    if args.out is not None and len(names) > 1:
        raise ConfigError("prime: --out names one file; with --variant all the files go to RUN_DIR/prime/")
    sizes = parse_sizes(args.sizes) if args.sizes else None
    paths = []
    for name in names:
        options = PrimeOptions(name, args.records, args.seed, sizes, args.max_wrong, args.tokenizer)
        path, count, skipped = write_prime(args.run_dir, options, args.out)
        print(f"{path}: {count} records ({skipped} trees could not show the habits)")
        paths.append(path)
    if not args.report:
        return 0
    rows = habit_table(args.run_dir, paths)
    print(format_table(rows))
    return 1 if any(row.broken for row in rows) else 0


def _add_show(commands) -> None:
    p = commands.add_parser(
        "show",
        help="print one saved search tree as an outline, with scores and the visit trace",
        description="Print a search tree from a run directory as an indented outline.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--problem", metavar="ID", help="problem id (default: the first tree)")
    p.add_argument("--format", choices=FORMATS, help="also print the tree's linearized trace in this format")
    p.set_defaults(run=run_show)


def run_show(args: argparse.Namespace) -> int:
    from metacot.outputs.show import show

    print(show(args.run_dir, args.problem, args.format))
    return 0


def _add_view(commands) -> None:
    p = commands.add_parser(
        "view",
        help="write one self-contained HTML page to look at a run's trees, visit order and training strings",
        description="Write a run's search trees as one HTML file (no network, opens from file://): an index of the "
        "problems, each tree collapsible with its scores and verdicts, a replay of the visit order with its "
        "backtracks, and the training string linked line by line to the nodes.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--problem", action="append", default=[], metavar="ID", help="only this problem (repeatable)")
    p.add_argument("--out", metavar="FILE", help="where to write the page (default: RUN_DIR/view.html)")
    p.add_argument("--compare", metavar="RUN_B", help="a second run whose trees are shown beside the first's")
    p.add_argument("--format", choices=FORMATS, help="the training string shown (default: metacot or tokens)")
    p.add_argument("--max-nodes", type=int, metavar="N", help="embed trees while their nodes add up to at most N")
    p.set_defaults(run=run_view)


def run_view(args: argparse.Namespace) -> int:
    from metacot.view import write_view
    from metacot.view.data import MAX_NODES

    limit = MAX_NODES if args.max_nodes is None else args.max_nodes
    path, runs = write_view(args.run_dir, args.out, args.problem, args.compare, args.format, limit)
    for run in runs:
        left = len(run["rows"]) - len(run["trees"])
        note = f"; {left} left out past {limit} nodes (pick them with --problem)" if left else ""
        print(f"{run['name']}: {len(run['trees'])} trees{note}")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _add_audit(commands) -> None:
    p = commands.add_parser(
        "audit",
        help="check every claim of a run's traces against its saved trees; exit code 1 if any is false",
        description="Re-read every record of RUN_DIR/traces/<format>.jsonl with its tree and check each claim: "
        "each step's arithmetic and resulting state, each verdict, each backtrack's target and reason, each value "
        "line, the answer. Prints records and claims checked per format and the first failures.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", action="append", metavar="F", help="a format to audit (repeatable; default: all)")
    p.add_argument("--show", type=int, default=5, metavar="N", help="failures to print per format")
    p.set_defaults(run=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    from metacot.linearize.audit import audit_records
    from metacot.outputs.records import read_records
    from metacot.outputs.rundir import RunDir

    directory = RunDir(args.run_dir)
    domain = directory.domain()
    trees = {tree.problem_id: tree for tree in directory.iter_trees()}
    formats = args.format or sorted(p.stem for p in directory.traces_dir.glob("*.jsonl") if p.stem != "prm_labels")
    false = 0
    for fmt in formats:
        path = directory.traces_dir / f"{fmt}.jsonl"
        if not path.exists():
            raise RunDirError(f"{path}: no such trace file")
        pairs = ((record, trees[record["problem_id"]]) for _, record in read_records(path))
        result = audit_records(pairs, domain)
        passed = result.claims - len(result.failures)
        print(f"{fmt}: {result.records} records, {result.claims} claims checked, {passed} passed")
        if result.reasons:
            total = sum(result.reasons.values())
            shares = ", ".join(
                f"{kind} {count} ({count / total:.0%})" for kind, count in sorted(result.reasons.items())
            )
            print(f"  backtracks: {total}: {shares}")
        for failure in result.failures[: args.show]:
            print(f"  {failure.problem_id}: {failure.message}\n    {failure.sentence!r}")
        false += len(result.failures)
    return 1 if false else 0


def _add_bench(commands) -> None:
    p = commands.add_parser("bench", help="benchmarks", description="Benchmarks that print measured figures.")
    kinds = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    e = kinds.add_parser(
        "engine",
        help="the synthesizer's own speed with a zero-cost policy: nodes per second, batch sizes",
        description="Run MCTS and A* on Countdown-4 with the symbolic policy and the oracle PRM, "
        "including linearization and writing, and print nodes per second and mean batch sizes.",
    )
    e.add_argument("--num-problems", type=int, metavar="N", default=1000)
    e.add_argument("--concurrency", type=int, metavar="N", default=64)
    e.add_argument("--searches", default="mcts,astar", help="comma-separated strategies")
    e.add_argument("--seed", type=int, metavar="N", default=0)
    e.add_argument("--repeat", type=int, default=3, metavar="N", help="runs per strategy; the fastest is reported")
    e.add_argument("--json", action="store_true", help="one JSON object keyed by strategy")
    e.set_defaults(run=run_bench_engine)
    _add_bench_strategies(kinds)
    r = kinds.add_parser(
        "resume",
        help="how long a resumed synth takes to start searching, by the number of finished trees",
        description="Build a run stopped after --trees of --trees + --new Countdown problems (copies of a few "
        "searched trees, with their traces), resume it with synth, and print the seconds to the first new search "
        "and for the whole resume.",
    )
    r.add_argument("--trees", type=int, default=10_000, metavar="N", help="finished trees (default 10000)")
    r.add_argument("--new", type=int, default=10, metavar="N", help="problems left to search (default 10)")
    r.add_argument("--seed", type=int, default=0, metavar="N")
    r.add_argument("--out", metavar="DIR", help="keep the run here (default: a temporary folder, removed)")
    r.add_argument("--json", action="store_true", help="the figures as one JSON object")
    r.set_defaults(run=run_bench_resume)
    m = kinds.add_parser(
        "memory",
        help="a synth's peak RSS and wall time by the number of problems, and those of its no-op resume",
        description="Run synth (generated Countdown problems, symbolic policy, oracle PRM) in a child process for "
        "each number of problems, then the same command again (nothing left to search), and print each one's peak "
        "RSS and wall time. Arguments after -- go to synth, e.g. -- --max-nodes 20.",
    )
    m.add_argument("--problems", default="1000,10000", help="comma-separated numbers of problems (default 1000,10000)")
    m.add_argument("synth_flags", nargs=argparse.REMAINDER, help="after --: more synth flags")
    m.add_argument("--json", action="store_true", help="the figures as one JSON list")
    m.set_defaults(run=run_bench_memory)
    b = kinds.add_parser(
        "backends",
        help="how well searches feed a model backend: prompts per call, time inside backends, overhead",
        description="Run the searches a synth command would run (same flags; no files are written) and print "
        "(a) mean prompts per policy call, (b) the share of wall time inside backend calls, (c) the whole run's "
        "time over the time the same generation requests take sent straight to the backend in one batch.",
    )
    add_synth_flags(b)
    b.add_argument(
        "--large-vocab",
        type=int,
        metavar="N",
        help="the transformers policy on a tiny random model with an N-token vocabulary, built locally for the run "
        "(151000: Qwen-size), so that costs per call that grow with the vocabulary show",
    )
    b.add_argument("--json", action="store_true", help="the figures as one JSON object")
    b.set_defaults(run=run_bench_backends)
    r = kinds.add_parser(
        "rollouts",
        help="what the rollout PRM generates per tree with and without rollout reuse (same problems, seeds)",
        description="Run the searches a synth command would run (same flags, e.g. --preset metacot-paper; no files "
        "are written) twice, with prm.rollout.reuse false and true, and print per tree the completions and their "
        "tokens generated, the completions reused, nodes and the solve rate.",
    )
    add_synth_flags(r)
    r.add_argument("--json", action="store_true", help="the figures as one JSON object")
    r.set_defaults(run=run_bench_rollouts)


def run_bench_rollouts(args: argparse.Namespace) -> int:
    from metacot.bench.machine import load_average, machine, machine_line
    from metacot.bench.rollouts import bench_rollout_reuse, format_reuse_table

    load = load_average()
    figures = bench_rollout_reuse(synth_config(args))
    ran = machine(load)
    for setting in figures.values():
        setting["machine"] = ran
    print(orjson.dumps(figures).decode() if args.json else format_reuse_table(figures) + "\n" + machine_line(ran))
    return 0


def run_bench_backends(args: argparse.Namespace) -> int:
    from metacot.bench.backends import bench_backends, format_report
    from metacot.bench.machine import load_average, machine, machine_line

    load = load_average()
    if args.large_vocab is not None:  # as if given: the policy flags are checked against the policy that runs
        setattr(args, dest("--policy"), "transformers")
    figures = bench_backends(synth_config(args), args.large_vocab)
    figures["machine"] = ran = machine(load)
    print(orjson.dumps(figures).decode() if args.json else format_report(figures) + "\n" + machine_line(ran))
    return 0


def run_bench_resume(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from metacot.bench.machine import load_average, machine, machine_line
    from metacot.bench.resume import bench_resume, format_report

    load = load_average()
    figures = bench_resume(args.trees, args.new, args.seed, args.out)
    ran = machine(load)
    json = orjson.dumps({**asdict(figures), "machine": ran}).decode()
    print(json if args.json else format_report(figures) + "\n" + machine_line(ran))
    return 0


def run_bench_memory(args: argparse.Namespace) -> int:
    from metacot.bench.memory import bench_memory, format_table

    flags = args.synth_flags[1:] if args.synth_flags[:1] == ["--"] else args.synth_flags
    figures = bench_memory([int(n) for n in split_list(args.problems)], flags)
    print(orjson.dumps(figures).decode() if args.json else format_table(figures))
    return 0


def run_bench_engine(args: argparse.Namespace) -> int:
    from metacot.bench.engine import bench_engine, format_table
    from metacot.bench.machine import load_average, machine, machine_line

    load = load_average()
    results = bench_engine(split_list(args.searches), args.num_problems, args.concurrency, args.seed, args.repeat)
    ran = machine(load)
    for figures in results.values():
        figures["machine"] = ran
    print(orjson.dumps(results).decode() if args.json else format_table(results) + "\n" + machine_line(ran))
    return 0


STRATEGIES_EPILOG = """\
examples:
  metacot bench strategies                                     # Countdown-4, the default grid
  metacot bench strategies --target 24 --low 1 --high 13 --out runs/bench-24   # Game of 24
  metacot bench strategies --strategies "astar,dfs,dfs:heuristic=prm,best_of_n:selection=argmax"
  metacot bench strategies --unit policy_calls --budgets 5,10,20,40

A strategy is a registered search, optionally with config overrides after colons (key=value).
Rerunning on the same --out resumes: rows already in results.jsonl are not searched again."""


def _add_bench_strategies(kinds) -> None:
    from metacot.bench.settings import BenchSettings

    s = kinds.add_parser(
        "strategies",
        help="compare search strategies at matched compute budgets and PRM noise levels: table and plots",
        description="Run every strategy on the same generated Countdown problems (same seeds) at each budget\n"
        "and each oracle-PRM noise level; write results.jsonl, table.md (solve rates with 95% Wilson\n"
        "intervals, mean compute) and PNG plots into --out.",
        epilog=STRATEGIES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(s, BenchSettings)
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(run=run_bench_strategies)


def run_bench_strategies(args: argparse.Namespace) -> int:
    from metacot.bench.machine import load_average, machine, machine_line
    from metacot.bench.settings import BenchSettings
    from metacot.bench.strategies import TABLE, bench_strategies
    from metacot.bench.tables import pivot

    settings = BenchSettings()
    for name, keys, value in given_flags(args, BenchSettings):
        set_key(settings, keys[0], value, name)
    load = load_average()
    result = bench_strategies(settings, progress=not args.no_progress)
    noise0 = min(settings.noise)
    print(f"solve rate (%) by budget ({settings.unit}), PRM flip probability {noise0:g}:")
    shown = [e for e in result.summary if e["strategy"] in settings.strategies]
    print("\n".join(pivot(shown, "strategy", "budget", "noise", noise0)))
    print(f"{result.out}: {len(result.rows)} rows ({result.searched} new, {result.seconds:.1f} s); table: {TABLE}")
    print(machine_line(machine(load)))
    return 0


def _add_handbook(commands) -> None:
    p = commands.add_parser(
        "handbook",
        help="behaviour handbooks: build one from a run, show one as a table, merge several",
        description="A handbook is a JSONL file of named behaviours ('behavior_<name>: <instruction>') with their "
        "tags, provenance and counts; `metacot synth --behaviors FILE` conditions the policy on them.",
    )
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    b = verbs.add_parser(
        "build",
        help="reflect on a run's trees with an LLM policy and distil named behaviours into a handbook",
        description="For every finished tree of RUN_DIR (its solution, failed branches and metacot trace), ask the "
        "policy's model for a reflection, then for 'behavior_<name>: <instruction>' lines: two batched passes. "
        "The behaviours are merged into --handbook (kept and added to when it exists); the raw replies go "
        "beside it (<handbook>.build.jsonl). The model comes from the policy flags "
        "(--policy openai --policy-model ...).",
    )
    b.add_argument("run_dir", metavar="RUN_DIR")
    b.add_argument("--handbook", metavar="FILE", help="the handbook (default: RUN_DIR/handbook.jsonl)")
    b.add_argument("--temperature", type=float, default=0.7, metavar="X", help="sampling temperature (0: greedy)")
    b.add_argument("--reply-tokens", type=int, default=512, metavar="N", help="tokens per reflection and distillation")
    add_synth_flags(b)
    b.set_defaults(run=run_handbook_build)
    s = verbs.add_parser("show", help="print a handbook as a table", description="Print a handbook as a table.")
    s.add_argument("file", metavar="FILE", help="a handbook file, or 'builtin' for the Countdown one")
    s.set_defaults(run=run_handbook_show)
    m = verbs.add_parser(
        "merge",
        help="merge handbooks into one, folding duplicates",
        description="Merge handbooks, folding behaviours with the same normalised name (and, with --similarity, "
        "TF-IDF cosine similarity at or above it) into the first: tags, problems and counts are summed.",
    )
    m.add_argument("files", nargs="+", metavar="FILE")
    m.add_argument("--out", required=True, metavar="FILE", help="the merged handbook")
    m.add_argument("--similarity", type=float, metavar="X", help="also fold lines at least this similar (0..1]")
    m.set_defaults(run=run_handbook_merge)


def _handbook_path(name: str) -> str:
    from metacot.behaviors.handbook import builtin_handbook

    return str(builtin_handbook("countdown")) if name == "builtin" else name


def run_handbook_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from metacot.backends.generate import Sampling, TextGenerator
    from metacot.behaviors.build import build_handbook, write_log
    from metacot.behaviors.handbook import load_handbook, merge, save_handbook
    from metacot.outputs.rundir import RunDir
    from metacot.policy import make_policy

    config = synth_config(args)
    policy = make_policy(config.policy, RunDir(args.run_dir).domain())
    if not isinstance(policy, TextGenerator):
        raise ConfigError(f"handbook build: policy {config.policy.backend!r} cannot write text; choose an LLM policy")
    section = getattr(config.policy, config.policy.backend)
    sampling = Sampling(temperature=args.temperature, max_tokens=args.reply_tokens, seed=config.seed)
    result = build_handbook(args.run_dir, policy, getattr(section, "model", ""), sampling)
    out = Path(args.handbook or Path(args.run_dir) / "handbook.jsonl")
    kept = load_handbook(out) if out.exists() else []
    merged = merge(kept + result.entries)
    save_handbook(merged, out)
    log_path = write_log(result, out.with_name(out.name + ".build.jsonl"))
    print(
        f"{out}: {len(merged)} behaviours ({len(result.entries)} distilled from {result.problems} trees, "
        f"{len(kept)} kept); {result.replies_without_behaviors} replies without a behaviour, "
        f"{result.malformed} malformed items skipped (raw text in {log_path})"
    )
    return 0


def run_handbook_show(args: argparse.Namespace) -> int:
    from metacot.behaviors.handbook import format_table, load_handbook

    entries = load_handbook(_handbook_path(args.file))
    print(format_table(entries))
    print(f"{len(entries)} behaviours")
    return 0


def run_handbook_merge(args: argparse.Namespace) -> int:
    from metacot.behaviors.handbook import load_handbook, merge, save_handbook
    from metacot.behaviors.retrieval import tfidf_embedder

    entries = [e for name in args.files for e in load_handbook(_handbook_path(name))]
    embed = None
    if args.similarity is not None:
        if not 0 < args.similarity <= 1:
            raise ConfigError(f"--similarity: must be in (0, 1], got {args.similarity}")
        embed = tfidf_embedder([e.line for e in entries])
    merged = merge(entries, embed, args.similarity or 1.0)
    print(f"{save_handbook(merged, args.out)}: {len(merged)} behaviours ({len(entries) - len(merged)} folded)")
    return 0


def _add_improve(commands) -> None:
    p = commands.add_parser(
        "improve",
        help="behaviour-guided self-improvement: reflect on a first attempt, search again conditioned on it",
        description="The first attempt is RUN_DIR: an existing run is reused as it is (its manifest gives the "
        "settings; flags may change only what does not change its trees), else synth runs into it with the flags. "
        "The policy's model then reflects on each tree and distils its behaviours (RUN_DIR/improve-handbook.jsonl; "
        "kept on a rerun), and a second attempt, each problem conditioned on its own behaviours, goes into "
        "RUN_DIR/improve/. Per problem, both attempts and the outcome (fixed, broken, both solved, neither) go to "
        "RUN_DIR/improve/attempts.jsonl. With the symbolic policy no model can reflect: the second attempt is "
        "conditioned on the built-in Countdown handbook instead, and the output says so.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--temperature", type=float, default=0.7, metavar="X", help="reflection sampling temperature")
    p.add_argument("--reply-tokens", type=int, default=512, metavar="N", help="tokens per reflection and distillation")
    add_synth_flags(p)
    p.set_defaults(run=run_improve)


def run_improve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from metacot.backends.generate import Sampling
    from metacot.behaviors.improve import improve, summary
    from metacot.config import from_dict
    from metacot.outputs.rundir import RunDir

    if getattr(args, dest("--out")) is not None:
        raise ConfigError("improve: the first attempt's run directory is RUN_DIR; --out is not used")
    base = None
    reuse = args.config is None and getattr(args, dest("--preset")) is None
    if reuse and (Path(args.run_dir) / "manifest.json").exists():  # the existing run's settings, flags over them
        run = RunDir(args.run_dir)
        base = from_dict(SynthConfig, run.read_manifest().get("config", {}), f"{run.manifest_path}: config")
    config = replace(synth_config(args, base), out=args.run_dir)
    sampling = Sampling(temperature=args.temperature, max_tokens=args.reply_tokens, seed=config.seed)
    result = improve(config, sampling, progress=not args.no_progress)
    print(result.conditioning.note)
    print(summary(result))
    return 0


BEHAVIORS_EPILOG = """\
examples:
  metacot behaviors runs/demo --tagger heuristic           # a run's traces, per format
  metacot behaviors outputs.jsonl --field response          # any JSONL of completions (or chat messages)
  metacot behaviors outputs.jsonl --tagger llm --judge-model models/judge
  metacot behaviors outputs.jsonl --tagger llm --judge-backend openai --judge-model served-name \\
      --set judge.openai.base_url=http://127.0.0.1:8000/v1 --set judge.openai.tokenizer=models/judge

Taggers: structural (exact, from a run's trees; the default for a run directory), heuristic (phrase and
arithmetic patterns, approximate; the default for a file), llm (a judge model on any text backend; one
prompt per record and behaviour, answers read from <count>N</count>). Rerunning the llm tagger on the
same --out asks only what it has not answered yet."""


def _add_behaviors(commands) -> None:
    from metacot.behaviors.registry import TaggerSettings

    p = commands.add_parser(
        "behaviors",
        help="count verification, backtracking, subgoal setting and backward chaining in traces or any JSONL",
        description="Count the four cognitive behaviours (arXiv 2503.01307) in every record of a run directory's\n"
        "traces (per format) or of a JSONL file; print per group the share of records showing each behaviour\n"
        "and its mean count; write OUT/behaviors.jsonl (per-record counts) and OUT/behaviors.png.",
        epilog=BEHAVIORS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="PATH", help="a run directory or a JSONL file")
    p.add_argument("--tagger", metavar="NAME", help="structural, heuristic or llm (default: see below)")
    p.add_argument("--field", default="completion", metavar="NAME", help="the field with the text (default completion)")
    p.add_argument("--out", metavar="DIR", help="default: RUN_DIR/behaviors, or NAME-behaviors beside the file")
    p.add_argument("--batch", type=int, default=64, metavar="N", help="records per round (one judge call each)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any tagger setting, e.g. --set judge.openai.base_url=http://127.0.0.1:8000/v1 (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--agree-with", metavar="NAME", help="also tag with this tagger; print how often the two agree")
    add_flags(p, TaggerSettings)
    p.set_defaults(run=run_behaviors)


def run_behaviors(args: argparse.Namespace) -> int:
    from pathlib import Path

    from metacot.behaviors.command import behaviors
    from metacot.behaviors.registry import TaggerSettings

    settings = TaggerSettings()
    for name, keys, value in given_flags(args, TaggerSettings):
        for key in keys:
            set_key(settings, key, value, name)
            check_key(settings, key, name)
    apply_sets(settings, args.set, "judge.openai.base_url=http://127.0.0.1:8000/v1")
    out = Path(args.out) if args.out else None
    result = behaviors(
        Path(args.path), args.tagger, settings, args.field, out, args.batch, not args.no_progress, args.agree_with
    )
    print(f"{result.tagger} tagger: share of records showing each behaviour (mean count)")
    print(result.table())
    reused = f" ({result.reused} from an earlier run)" if result.reused else ""
    print(f"{result.rows}: {sum(s.records for s in result.summaries)} records{reused}")
    if result.plot is not None:
        print(f"{result.plot}: bar chart")
    for group, shares in result.agreement.items():
        agreed = ", ".join(f"{name} {share:.0%}" for name, share in shares.items())
        print(f"{group}: agrees with {args.agree_with} on {agreed} of records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
