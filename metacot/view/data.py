"""What the viewer page shows of a run, as plain JSON-ready data: each tree's nodes, walk and training string."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from metacot.linearize import LinearizeConfig, linearize_tree, resolve_formats
from metacot.linearize.formats import DEFAULT_FORMAT, FORMATS
from metacot.linearize.layout import texts
from metacot.linearize.walk import count_backtracks, trace_to_solution, walk
from metacot.outputs.export import run_linearize_config
from metacot.outputs.rundir import RunDir, RunDirError
from metacot.problems.base import Domain
from metacot.progress import tree_bar
from metacot.tree import SearchTree

# Trees with more nodes than this in all are not embedded in one page (their index rows stay): past it a page grows
# past ~50 MB and a browser takes seconds to parse it. `metacot view RUN --problem ID` picks the ones to show.
MAX_NODES = 200_000


def tree_payload(tree: SearchTree, domain: Domain, config: LinearizeConfig, fmt: str) -> dict:
    """One tree for the page: its nodes as columns, the solution path, the walk the replay steps through (the
    moves the record is written from: its backtracks are the record's num_backtracks) and the training string in
    `fmt`, cut into segments by node where the format allows."""
    problem = domain.problem_from_dict(tree.problem)
    trace, solution = trace_to_solution(tree, config.stop_at_first_solution)
    moves = walk(tree, trace)
    nodes = tree.nodes
    shown = replace(config, formats=[fmt], include_unsolved=True, max_backtracks=None)
    record = linearize_tree(tree, domain, shown, with_segments=True).get(fmt)
    backtracks = count_backtracks(moves)
    written = record["num_backtracks"] if record else backtracks  # a format's own count (sos: its log's returns)
    kept = (solution is not None or config.include_unsolved) and (
        config.max_backtracks is None or written <= config.max_backtracks
    )
    return {
        "id": tree.problem_id,
        "search": tree.search,
        "failed": tree.failed,
        "prompt": domain.prompt(problem, think_tags=config.think_tags),
        "cols": {
            "parent": [n.parent for n in nodes],
            "path": [n.path for n in nodes],
            "step": [n.step for n in nodes],
            "state": [None if n.state is None else domain.describe_state(problem, n.state) for n in nodes],
            "score": [n.score for n in nodes],
            "successes": [n.successes for n in nodes],
            "rollouts": [n.rollouts for n in nodes],
            "visits": [n.visits for n in nodes],
            "value": [n.value_sum / n.visits if n.visits else None for n in nodes],
            "terminal": [int(n.terminal) for n in nodes],
            "correct": [n.correct for n in nodes],
            "error": [n.error for n in nodes],
            "slip": [n.slip for n in nodes],
            "duplicates": [n.duplicates for n in nodes],
        },
        "solution_path": tree.path_to(solution) if solution is not None else [],
        "trace": tree.trace,
        "moves": [[m.kind, m.node, m.visit] for m in moves],
        "backtracks": backtracks,
        "format": fmt,
        "in_traces": kept,
        "completion": texts(record)[1] if record else "",
        "segments": [[s["text"], s["kind"], s["node"]] for s in record.get("segments", [])] if record else [],
    }


def index_row(tree: SearchTree, stop_at_first_solution: bool) -> dict:
    """A tree's line in the run's index."""
    trace, _ = trace_to_solution(tree, stop_at_first_solution)
    return {
        "id": tree.problem_id,
        "search": tree.search,
        "solved": tree.solved,
        "failed": tree.failed is not None,
        "nodes": len(tree.nodes),
        "backtracks": count_backtracks(walk(tree, trace)),
        "embedded": False,
    }


def choose_format(requested: str | None, config: LinearizeConfig, domain: Domain) -> str:
    """The format whose string the page shows: the one asked for, else the first the run writes whose lines follow
    the search, each marked by its move, else the default format."""
    if requested is not None:
        resolve_formats([requested], domain)  # a clear error for an unknown or foreign format
        return requested
    written = resolve_formats(config.formats, domain)
    return next((f for f in written if FORMATS[f].follows_search), DEFAULT_FORMAT)


def run_data(
    run_dir: str | Path,
    problems: Collection[str] = (),
    fmt: str | None = None,
    max_nodes: int = MAX_NODES,
    progress: bool = False,
) -> dict:
    """A run for the page: an index row per tree and the embedded trees (those named in `problems`, or all while
    their nodes add up to at most `max_nodes`); `progress`: a bar of the trees on stderr."""
    directory = RunDir(run_dir)
    directory.read_manifest()
    domain = directory.domain()
    config = run_linearize_config(directory)
    fmt = choose_format(fmt, config, domain)
    wanted = set(problems)
    rows, embedded, total = [], [], 0
    for tree in tree_bar(directory, progress, Path(run_dir).name or str(run_dir)):
        if wanted and tree.problem_id not in wanted:
            continue
        row = index_row(tree, config.stop_at_first_solution)
        if total + row["nodes"] <= max_nodes:
            embedded.append(tree_payload(tree, domain, config, fmt))
            row["embedded"] = True
            total += row["nodes"]
        rows.append(row)
    missing = sorted(wanted - {row["id"] for row in rows})
    if missing:
        raise RunDirError(f"{run_dir}: no saved tree for problem {', '.join(map(repr, missing))}")
    return {"name": Path(run_dir).name or str(run_dir), "format": fmt, "rows": rows, "trees": embedded}
