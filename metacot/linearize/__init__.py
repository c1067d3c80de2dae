"""Linearize a search tree and its visit trace into SFT-ready records, in any of several formats."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from metacot.linearize.config import LinearizeConfig
from metacot.linearize.formats import FORMATS, TraceFormat
from metacot.linearize.layout import text_keys
from metacot.linearize.render import Context, Lines
from metacot.linearize.segments import segments
from metacot.linearize.walk import Move, count_backtracks, trace_to_solution, walk
from metacot.problems.base import Domain
from metacot.tree import SearchTree


def no_solution(domain: Domain, problem: object) -> str:
    """What an unsolved record answers, in the answer block where a solved one puts its answer."""
    return f"I could not find a way to {domain.goal(problem)}."


def resolve_formats(requested: list[str] | None, domain: Domain) -> list[str]:
    """The formats to write: those requested, or every one the domain can write but those written on request only;
    a clear error for the others."""
    writable = [name for name, fmt in FORMATS.items() if fmt.serves(domain)]
    for name in requested or []:
        if name not in FORMATS:
            raise ValueError(f"linearize.formats: unknown format {name!r}; known: {', '.join(FORMATS)}")
        if name not in writable:
            raise ValueError(
                f"linearize.formats: {name!r} {FORMATS[name].needs}; the {domain.name} domain writes "
                f"{', '.join(writable)}"
            )
    return list(requested) if requested is not None else [f for f in writable if not FORMATS[f].on_request]


def linearize_tree(
    tree: SearchTree,
    domain: Domain,
    config: LinearizeConfig,
    with_segments: bool = False,
    leave_out: Collection[int] = (),
    citations: bool = False,
) -> dict[str, dict]:
    """The tree's record in each format, leaving out the formats whose options exclude it.

    with_segments: each record also gets "segments" (linearize.segments), in the formats whose lines are marked by
    move (TraceFormat.segments). leave_out: nodes the trace skips (whole subtrees must be given: a pruned record).
    citations: each step written with the behaviours its policy cited (BC-SFT records; shown by the formats that
    write steps as sentences)."""
    formats = resolve_formats(config.formats, domain)
    trace, solution = trace_to_solution(tree, config.stop_at_first_solution)
    if solution is None and not config.include_unsolved:
        return {}
    problem = domain.problem_from_dict(tree.problem)
    context = Context(tree, domain, problem, config.value_lines, solution, citations, config.plans)
    prompt = domain.prompt(problem, think_tags=config.think_tags)
    answer = context.final_answer() if solution is not None else no_solution(domain, problem)
    # a move's visit is its position in the whole trace, where the search's values are kept
    if leave_out:
        positions = [i for i, node_id in enumerate(trace) if node_id not in leave_out]
        search_moves = walk(tree, [trace[i] for i in positions], positions, leave_out)
    else:
        search_moves = walk(tree, trace)
    records = {}
    for fmt in formats:
        trace_format = FORMATS[fmt]
        moves = trace_format.moves(context, search_moves)
        if moves is None:
            continue
        backtracks = count_backtracks(moves)
        if config.max_backtracks is not None and backtracks > config.max_backtracks:
            continue
        lines = trace_format.render(context, moves)
        solved, answers = solution is not None, answer
        if trace_format.reaches is not None:
            steps = trace_format.reaches(context, moves)
            solved = steps is not None
            answers = domain.final_answer(problem, steps) if steps is not None else no_solution(domain, problem)
        completion = completion_text(lines, answers, config.think_tags, domain.step_delimiter)
        records[fmt] = {
            "problem_id": tree.problem_id,
            "format": fmt,
            "search": tree.search,
            "correct": solved,
            "answer": answers if solved else None,
            "num_backtracks": backtracks,
            "num_nodes": len(tree.nodes),
            "num_steps": sum(1 for m in moves if m.kind == "step"),
            **text_keys(prompt, completion, config.record_layout),
        }
        if with_segments and trace_format.segments:
            path = tree.path_to(solution) if solution is not None else []
            opening, closing = _answer_block(answers, config.think_tags)
            parts = segments(_marked(lines, fmt), moves, domain.step_delimiter, opening, closing, path)
            records[fmt]["segments"] = parts
    return records


def _marked(lines: list[str], fmt: str) -> Lines:
    """The lines as its format's renderer marked them by move."""
    if not isinstance(lines, Lines):
        raise TypeError(f"the {fmt} format says it has segments, but its renderer returned lines not marked by move")
    return lines


def linearize(tree: SearchTree, domain: Domain, fmt: str, config: LinearizeConfig) -> dict | None:
    """The tree's record in one format, or None when the options leave it out."""
    return linearize_tree(tree, domain, replace(config, formats=[fmt])).get(fmt)


def completion_text(lines: list[str], answer: str, think_tags: bool, separator: str) -> str:
    """The lines joined as the domain separates steps (a blank line in math), then the answer block."""
    opening, closing = _answer_block(answer, think_tags)
    return opening + separator.join(lines) + closing


def _answer_block(answer: str, think_tags: bool) -> tuple[str, str]:
    """What comes before and after the lines."""
    if not think_tags:
        return "", f"\nAnswer: {answer}"
    return "<think>\n", f"\n</think>\n<answer> {answer} </answer>"


__all__ = [
    "FORMATS",
    "LinearizeConfig",
    "TraceFormat",
    "Move",
    "linearize",
    "linearize_tree",
    "resolve_formats",
    "no_solution",
    "walk",
]
