"""Linearize a search tree and its visit trace into SFT-ready records, in any of several formats."""

from __future__ import annotations

from metacot.linearize.config import FORMATS, LinearizeConfig
from metacot.linearize.formats import RENDERERS, Context
from metacot.linearize.walk import Move, count_backtracks, trace_to_solution, walk
from metacot.problems.base import Domain
from metacot.tree import SearchTree

NO_SOLUTION = "I could not find a way to reach the goal."


def linearize(tree: SearchTree, domain: Domain, fmt: str, config: LinearizeConfig) -> dict | None:
    """One record for the tree in format `fmt`, or None when the options leave this tree out."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    trace, solution = trace_to_solution(tree, config.stop_at_first_solution)
    if solution is None and (fmt == "cot" or not config.include_unsolved):
        return None
    moves = walk(tree, tree.path_to(solution)[1:] if fmt == "cot" else trace)
    backtracks = count_backtracks(moves)
    if config.max_backtracks is not None and backtracks > config.max_backtracks:
        return None
    problem = domain.problem_from_dict(tree.problem)
    lines = RENDERERS[fmt](Context(tree, domain, problem, config), moves)
    answer = domain.final_answer(problem, tree.steps_to(solution)) if solution is not None else None
    prompt = domain.prompt(problem)
    completion = _completion(lines, answer, config.think_tags)
    return {
        "problem_id": tree.problem_id,
        "format": fmt,
        "search": tree.search,
        "correct": solution is not None,
        "answer": answer,
        "num_backtracks": backtracks,
        "num_nodes": len(tree.nodes),
        "num_steps": sum(1 for m in moves if m.kind == "step"),
        "prompt": prompt,
        "completion": completion,
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}],
    }


def _completion(lines: list[str], answer: str | None, think_tags: bool) -> str:
    if answer is None:
        lines = [*lines, NO_SOLUTION]
    body = "\n".join(lines)
    if not think_tags:
        return body if answer is None else f"{body}\nAnswer: {answer}"
    thought = f"<think>\n{body}\n</think>"
    return thought if answer is None else f"{thought}\n<answer> {answer} </answer>"


__all__ = ["FORMATS", "LinearizeConfig", "Move", "linearize", "walk"]
