"""Commands of the cognitive-behaviours and handbook work: prime, behaviors, handbook, improve."""

from __future__ import annotations

import argparse
from dataclasses import replace

from metacot.cli.synth import add_synth_flags, apply_sets, synth_config
from metacot.config import (
    ConfigError,
    SynthConfig,
    check_key,
    set_key,
)
from metacot.flags import add_flags, dest, given_flags
from metacot.progress import add_progress_flag


def _add_prime(commands) -> None:
    from metacot.behaviors.prime.variants import VARIANTS
    from metacot.linearize.layout import LAYOUT_HELP, LAYOUTS

    p = commands.add_parser(
        "prime",
        help="priming datasets from a run's trees: SFT records that show chosen cognitive behaviours",
        description="Write SFT records (prompt and completion, or chat messages with --record-layout messages; "
        "answer, correct, per-record behaviour counts) for a priming condition of the cognitive-behaviours study, "
        "into RUN_DIR/prime/<variant>.jsonl. "
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
    p.add_argument("--record-layout", choices=LAYOUTS, help=f"{LAYOUT_HELP} (default: the run's)")
    p.add_argument(
        "--report",
        action="store_true",
        help="print the habit table (structural tagger) with the habits' substance read from the text (subgoals "
        "pursued, backward chains followed, one-step wins left behind); exit 1 if a variant breaks its rule",
    )
    add_progress_flag(p)
    p.set_defaults(run=run_prime)


def run_prime(args: argparse.Namespace) -> int:
    from metacot.behaviors.prime.datasets import PrimeOptions, parse_sizes, variants_for, write_prime
    from metacot.behaviors.prime.report import format_table, habit_table

    names = variants_for(args.run_dir, args.variant)
    if args.out is not None and len(names) > 1:
        raise ConfigError("prime: --out names one file; with --variant all the files go to RUN_DIR/prime/")
    sizes = parse_sizes(args.sizes) if args.sizes else None
    paths = []
    for name in names:
        options = PrimeOptions(name, args.records, args.seed, sizes, args.max_wrong, args.tokenizer, args.record_layout)
        path, count, skipped = write_prime(args.run_dir, options, args.out, not args.no_progress)
        print(f"{path}: {count} records ({skipped} trees could not show the habits)")
        paths.append(path)
    if not args.report:
        return 0
    rows = habit_table(args.run_dir, paths)
    print(format_table(rows))
    return 1 if any(row.broken for row in rows) else 0


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
    from metacot.behaviors.handbook.entries import builtin_handbook

    return str(builtin_handbook("countdown")) if name == "builtin" else name


def run_handbook_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from metacot.backends.generate import Sampling, TextGenerator
    from metacot.behaviors.handbook.build import build_handbook, write_log
    from metacot.behaviors.handbook.entries import load_handbook, merge, save_handbook
    from metacot.outputs.rundir import RunDir
    from metacot.policy import make_policy

    config = synth_config(args)
    policy = make_policy(config.policy, RunDir(args.run_dir).domain())
    if not isinstance(policy, TextGenerator):
        raise ConfigError(f"handbook build: policy {config.policy.backend!r} cannot write text; choose an LLM policy")
    section = getattr(config.policy, config.policy.backend)
    sampling = Sampling(temperature=args.temperature, max_tokens=args.reply_tokens, seed=config.seed)
    result = build_handbook(args.run_dir, policy, getattr(section, "model", ""), sampling, not args.no_progress)
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
    from metacot.behaviors.handbook.entries import format_table, load_handbook

    entries = load_handbook(_handbook_path(args.file))
    print(format_table(entries))
    print(f"{len(entries)} behaviours")
    return 0


def run_handbook_merge(args: argparse.Namespace) -> int:
    from metacot.behaviors.handbook.entries import load_handbook, merge, save_handbook
    from metacot.behaviors.handbook.retrieval import tfidf_embedder

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
    from metacot.behaviors.handbook.improve import improve, summary
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
  metacot behaviors runs/demo --tagger heuristic --agree-with structural   # counts compared, record by record
  metacot behaviors labelled.jsonl --labels habits          # recall and precision against hand labels
  metacot behaviors outputs.jsonl --tagger llm --judge-model models/judge
  metacot behaviors outputs.jsonl --tagger llm --judge-backend openai --judge-model served-name \\
      --set judge.openai.base_url=http://127.0.0.1:8000/v1 --set judge.openai.tokenizer=models/judge

Taggers: structural (exact, from a run's trees; the default for a run directory), heuristic (phrase and
arithmetic patterns, approximate; the default for a file), llm (a judge model on any text backend; one
prompt per record and behaviour, answers read from <count>N</count>). Rerunning the llm tagger on the
same --out asks only what it has not answered yet. strict_backtracking: the backtracks made after the
text says the path fails (a failed check, every option tried, a mistake found); structural and
heuristic read it ("-": not read)."""


def _add_behaviors(commands) -> None:
    from metacot.behaviors.measure.registry import TAGGERS, TaggerSettings

    *others, last = TAGGERS
    p = commands.add_parser(
        "behaviors",
        help="count verification, backtracking, subgoal setting and backward chaining in traces or any JSONL",
        description="Count the four cognitive behaviours (arXiv 2503.01307) in every record of a run directory's\n"
        "traces (per format) or of a JSONL file; print per group the share of records showing each behaviour\n"
        "and its mean count; write the tagger's per-record counts and bar chart into OUT, each tagger its own\n"
        "files: OUT/structural.jsonl and OUT/structural.png, OUT/heuristic.*, OUT/llm.*.",
        epilog=BEHAVIORS_EPILOG,
    )
    p.add_argument("path", metavar="PATH", help="a run directory or a JSONL file")
    p.add_argument("--tagger", metavar="NAME", help=f"{', '.join(others)} or {last} (default: see below)")
    p.add_argument("--field", default="completion", metavar="NAME", help="the field with the text")
    p.add_argument("--out", metavar="DIR", help="default: RUN_DIR/behaviors, or NAME-behaviors beside the file")
    p.add_argument(
        "--batch", type=int, default=64, metavar="N", help="records per round; their rows are written together"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any tagger setting, e.g. --set judge.openai.base_url=http://127.0.0.1:8000/v1 (repeatable)",
    )
    add_progress_flag(p)
    p.add_argument(
        "--agree-with",
        metavar="NAME",
        help="also tag with this tagger; print per group the share of records on which the two agree: on presence, "
        "on the exact count, on the count within one",
    )
    p.add_argument(
        "--labels",
        metavar="FIELD",
        help="the records hold hand labels in this field ({behaviour: true/false or a count}); print the tagger's "
        "recall and precision against them",
    )
    add_flags(p, TaggerSettings)
    p.set_defaults(run=run_behaviors)


def run_behaviors(args: argparse.Namespace) -> int:
    from pathlib import Path

    from metacot.behaviors.measure.command import behaviors
    from metacot.behaviors.measure.registry import TaggerSettings

    settings = TaggerSettings()
    for name, keys, value in given_flags(args, TaggerSettings):
        for key in keys:
            set_key(settings, key, value, name)
            check_key(settings, key, name)
    apply_sets(settings, args.set, "judge.openai.base_url=http://127.0.0.1:8000/v1")
    out = Path(args.out) if args.out else None
    result = behaviors(
        Path(args.path),
        args.tagger,
        settings,
        args.field,
        out,
        args.batch,
        not args.no_progress,
        args.agree_with,
        args.labels,
    )
    print(f"{result.tagger} tagger: share of records showing each behaviour (mean count)")
    print(result.table())
    reused = f" ({result.reused} from an earlier run)" if result.reused else ""
    print(f"{result.rows}: {sum(s.records for s in result.summaries)} records{reused}")
    if result.plot is not None:
        print(f"{result.plot}: bar chart")
    if result.agreement:
        print(f"agreement with {args.agree_with}: share of records agreeing on presence/exact count/count within one")
        print(result.agreement_table())
        print(f"taking {args.agree_with} as the reference: recall R (found/shown there), precision P (right/found)")
        print(result.recall_table(result.agreement))
    if result.labelled:
        print(f"against the hand labels in {args.labels!r}: recall R (found/labelled), precision P (right/found)")
        print(result.recall_table(result.labelled))
    return 0
