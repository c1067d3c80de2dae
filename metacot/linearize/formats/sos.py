"""The sos format: the stream-of-search log (Gandhi et al. 2024), nodes generated when expanded, moves and goal
checks, for a domain of numbers combined toward a target; its audit checks the answer alone."""

from __future__ import annotations

from typing import Any

from metacot.linearize.formats.base import TraceFormat
from metacot.linearize.render import Context
from metacot.linearize.walk import Move
from metacot.problems.base import Domain
from metacot.tree import ROOT, Node


def render_sos(ctx: Context, moves: list[Move]) -> list[str]:
    """The stream-of-search log (Gandhi et al. 2024): nodes generated when expanded, moves, goal checks."""
    explored: dict[int, str] = {}
    lines = _sos_arrive(ctx, ROOT, explored, moving=False)
    at = ROOT
    nodes = ctx.tree.nodes
    for move in moves:
        if lines[-1].endswith("Goal Reached"):
            break
        node = nodes[move.node]
        # a terminal's goal check was written when it was generated; a wrong result taken at face value has no
        # words in the log, so the branch below it is left out
        if node.terminal or node.id == at or ctx.first_slip(node.id) is not None:
            continue
        lines += _sos_arrive(ctx, node.id, explored, moving=True)
        at = node.id
    return lines


def _sos_arrive(ctx: Context, node_id: int, explored: dict[int, str], moving: bool) -> list[str]:
    """The lines of a move to the node; the first arrival also generates its children. explored: each explored
    node's "Current State" line, written again on a return."""
    nodes = ctx.tree.nodes
    node = nodes[node_id]
    lines = [f"Moving to Node #{_sos_id(node)}"] if moving else []
    if node_id in explored:
        lines.append(explored[node_id])
        return lines
    target = ctx.problem.target
    ops = [_sos_op(nodes[i].step) for i in ctx.tree.path_to(node_id)[1:]]
    explored[node_id] = f"Current State: {target}:{_sos_numbers(node.state)}, Operations: {ops}"
    lines.append(explored[node_id])
    for child in map(nodes.__getitem__, node.children):
        # The log has no words for an illegal or wrong step, and reaches only the goal the record answers with.
        if child.error is not None or child.slip is not None or (child.correct and child.id != ctx.solution):
            continue
        op, numbers = _sos_op(child.step), _sos_numbers(child.state)
        lines.append(f"Exploring Operation: {op}, Resulting Numbers: {numbers}")
        if child.terminal:
            verdict = "equal: Goal Reached" if child.correct else "unequal: No Solution"
            ctx.checks += 1
            lines.append(f"{child.state[0]},{target} {verdict}")
            if child.correct:
                return lines
        else:
            lines.append(f"Generated Node #{_sos_id(child)}: {target}:{numbers} Operation: {op}")
    return lines


def _sos_id(node: Node) -> str:
    return node.path.replace(".", ",")


def _sos_op(step: str) -> str:
    return step.replace(" ", "")


def _sos_numbers(state: Any) -> str:
    return "[" + ", ".join(map(str, state)) + "]"


def numbers_to_target(domain: Domain) -> bool:
    return domain.numbers_to_target


SOS = TraceFormat(
    help="a stream-of-search log",
    render=render_sos,
    serves=numbers_to_target,  # the log speaks of numbers and a target
    needs="needs numbers and a target (Countdown's)",
)
