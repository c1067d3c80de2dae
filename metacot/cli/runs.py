"""Commands that read a saved run: linearize, show, view, audit."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metacot.flags import split_list
from metacot.linearize import FORMATS, LinearizeConfig
from metacot.linearize.config import FORMATS_HELP
from metacot.linearize.layout import LAYOUT_HELP, LAYOUTS, PROMPT_COMPLETION
from metacot.outputs.rundir import RunDir, RunDirError
from metacot.outputs.shards import TreeLookup
from metacot.progress import add_progress_flag, progress_bar
from metacot.tree import SearchTree

if TYPE_CHECKING:
    from metacot.problems.base import Domain


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
    p.add_argument("--plans", action="store_true", help="metacot: subgoals and backward chains woven from the path")
    p.add_argument("--no-think-tags", action="store_true", help="no <think>/<answer> tags; end with 'Answer: ...'")
    p.add_argument(
        "--record-layout",
        choices=LAYOUTS,
        default=PROMPT_COMPLETION,
        help=LAYOUT_HELP,
    )
    add_progress_flag(p)
    p.set_defaults(run=run_linearize)


def run_linearize(args: argparse.Namespace) -> int:
    from metacot.synth import relinearize

    config = LinearizeConfig(
        stop_at_first_solution=not args.full_trace,
        max_backtracks=args.max_backtracks,
        include_unsolved=args.include_unsolved,
        value_lines=args.value_lines,
        plans=args.plans,
        think_tags=not args.no_think_tags,
        record_layout=args.record_layout,
    )
    if args.formats is not None:
        config = replace(config, formats=split_list(args.formats))
    stats = relinearize(args.run_dir, config, not args.no_progress)
    for fmt, summary in stats["formats"].items():
        print(f"{args.run_dir}/traces/{fmt}.jsonl: {summary['records']} records")
    return 0


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
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="the training string shown (default: the first format the run writes whose lines follow the search, "
        "each marked by its move)",
    )
    p.add_argument(
        "--page-nodes", type=int, metavar="N", help="embed trees while their nodes, all trees together, are at most N"
    )
    # its name before --page-nodes, which synth's --max-nodes (nodes per tree, a search budget) made misleading
    p.add_argument("--max-nodes", type=int, dest="page_nodes", help=argparse.SUPPRESS)
    add_progress_flag(p)
    p.set_defaults(run=run_view)


def run_view(args: argparse.Namespace) -> int:
    from metacot.view import write_view
    from metacot.view.data import MAX_NODES

    limit = MAX_NODES if args.page_nodes is None else args.page_nodes
    path, runs = write_view(
        args.run_dir, args.out, args.problem, args.compare, args.format, limit, not args.no_progress
    )
    for run in runs:
        left = len(run["rows"]) - len(run["trees"])
        note = f"; {left} left out past {limit} nodes (--page-nodes; pick them with --problem)" if left else ""
        print(f"{run['name']}: {len(run['trees'])} trees{note}")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _add_audit(commands) -> None:
    p = commands.add_parser(
        "audit",
        help="check every claim of a run's traces against its saved trees, and read them as a reader does; exit "
        "code 1 if any claim is false or the reader finds a violation",
        description="Re-read every record of RUN_DIR/traces/<format>.jsonl with its tree and check each claim: "
        "each step's arithmetic and resulting state, each verdict, each backtrack's target and reason, each value "
        "line, the answer. Then (--reader) read each record's text alone, with the problem it answers, as a reader "
        "does: conclusions shown, no exhausted state stepped from again, no win walked away from, no numbers reached "
        "twice (where the search merged transpositions), no slip named twice, built on, or written after its "
        "correction, a reason for every backtrack, comparisons true as printed, every "
        "printed step's arithmetic. Prints records and claims checked per format, the reader's violations by kind "
        "and how the format reads (sentence templates, boilerplate, lengths), and the first failures.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", action="append", metavar="F", help="a format to audit (repeatable; default: all)")
    p.add_argument("--show", type=int, default=5, metavar="N", help="failures to print per format")
    p.add_argument(
        "--reader",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also read each record's text alone, as a reader does; --no-reader skips it (default: %(default)s)",
    )
    add_progress_flag(p)
    p.set_defaults(run=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    with RunDir(args.run_dir).lock() as directory:  # traces and trees as a synth left them, not as it writes them
        return _audit(directory, args)


def _audit(directory: RunDir, args: argparse.Namespace) -> int:
    from metacot.linearize.audit import audit_records
    from metacot.outputs.records import lines, read_records

    domain = directory.domain()
    show = not args.no_progress
    trees = TreeLookup(directory)
    formats = args.format or sorted(p.stem for p in directory.traces_dir.glob("*.jsonl") if p.stem != "prm_labels")
    false = 0
    for fmt in formats:
        path = directory.traces_dir / f"{fmt}.jsonl"
        if not path.exists():
            raise RunDirError(f"{path}: no such trace file")
        total = sum(1 for _ in lines(path)) if show else None
        records = progress_bar(read_records(path), show=show, total=total, unit="record", desc=f"auditing {fmt}")
        with records:
            pairs = ((record, _tree_of(trees, path, where, record, directory.trees_dir)) for where, record in records)
            result = audit_records(pairs, domain)
        passed = result.claims - len(result.failures)
        print(f"{fmt}: {result.records} records, {result.claims} claims checked, {passed} passed")
        if fmt in FORMATS and FORMATS[fmt].parse is None:
            print(f"  answers only: the {fmt} format has no audit parser for its lines")
        if result.reasons:
            total = sum(result.reasons.values())
            shares = ", ".join(
                f"{kind} {count} ({count / total:.0%})" for kind, count in sorted(result.reasons.items())
            )
            print(f"  backtracks: {total}: {shares}")
        for failure in result.failures[: args.show]:
            print(f"  {failure.problem_id}: {failure.message}\n    {failure.sentence!r}")
        false += len(result.failures)
        if args.reader:
            false += _read(directory, path, trees, fmt, args.show)
    return 1 if false else 0


def _read(directory: RunDir, path: Path, trees: TreeLookup, fmt: str, show: int) -> int:
    """The reader's report on one trace file; its violations."""
    from metacot.linearize.reader import read_records, reads

    domain = directory.domain()
    if not reads(domain):
        print(f"  reader: not read: it reads numbers combined toward a target, not the {domain.name} domain's text")
        return 0
    report = read_records(_with_problems(directory, path, trees, domain), domain, fmt)
    print("\n".join(report.lines(fmt, show)))
    return report.violations


def _with_problems(
    directory: RunDir, path: Path, trees: TreeLookup, domain: Domain
) -> Iterator[tuple[dict, Any, bool]]:
    """Each record of a trace file with the problem it answers, and whether its search merged transpositions (the
    reader then takes a state to be its numbers, however reached)."""
    from metacot.outputs.records import read_records

    for where, record in read_records(path):
        tree = _tree_of(trees, path, where, record, directory.trees_dir)
        yield record, domain.problem_from_dict(tree.problem), tree.transpositions_merged


def _tree_of(trees: TreeLookup, path: Path, where: int | str, record: dict, trees_dir: Path) -> SearchTree:
    """The tree a trace record was written from; RunDirError naming the record when the run has none."""
    tree = trees.get(record["problem_id"])
    if tree is None:
        raise RunDirError(f"{path}:{where}: problem {record['problem_id']!r} has no tree in {trees_dir}")
    return tree
