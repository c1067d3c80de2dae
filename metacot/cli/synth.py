"""The `metacot synth` command: its flags, the config they build, and the run."""

from __future__ import annotations

import argparse
import logging

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
from metacot.flags import add_flags, dest, get, given_flags
from metacot.progress import add_progress_flag

log = logging.getLogger("metacot")


SYNTH_EPILOG = """\
examples:
  metacot synth                                   # 100 Countdown-4 problems, MCTS, into runs/demo
  metacot synth --search astar --out runs/astar   # the same with A*
  metacot synth --target 24 --low 1 --high 13     # Game of 24
  metacot synth --problems my.jsonl               # your own {"numbers": [...], "target": N} lines
  metacot synth --config run.toml                 # every setting from a TOML file; flags override it

Rerunning the same command on the same --out resumes: finished problems are skipped, and searches that
failed for a backend error are searched again (--no-retry-failed keeps them as they are)."""


def _add_synth(commands) -> None:
    p = commands.add_parser(
        "synth",
        help="search problems and write trees and traces to a run directory",
        description="Search every problem, save each search tree, then linearize the trees into traces.",
        epilog=SYNTH_EPILOG,
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
    p.add_argument("--config", metavar="FILE", help="TOML config file (docs: the config reference); flags override it")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config key, e.g. --set search.mcts.c_puct=1.5 (a TOML value; repeatable; applied after the flags)",
    )
    add_progress_flag(p)
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
    from metacot.behaviors.handbook.bci import condition
    from metacot.synth import synth

    config = synth_config(args)
    result = synth(config, progress=not args.no_progress, retry_failed=not args.no_retry_failed, condition=condition)
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
