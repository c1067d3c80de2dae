"""The structure check of a tree read from JSON: a whole tree as add_child builds it, or a TreeError saying what is
wrong (a node missing, a parent or child that is no node, a cycle)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ROOT = 0


class TreeError(ValueError):
    """A tree record that is not a whole tree (a node missing, a parent or child that is no node, a cycle)."""


def check_structure(nodes: Sequence[Any], trace: Sequence[Any], trace_values: Sequence[Any]) -> None:
    """TreeError unless the nodes are a tree as add_child builds it: node i has id i, the root none but a parent -1,
    every other node an earlier node as its parent (so no parent chain can loop) and a depth one more than its
    parent's, and is listed once among that parent's children, under no other; the trace names nodes and has a visit for
    each of its values. Linear in the nodes."""
    if not nodes:
        raise TreeError("a tree record without nodes")
    for i, node in enumerate(nodes):
        parent = node.parent
        if type(node.id) is not int or node.id != i:
            raise TreeError(f"node {i} has id {node.id!r}; node ids are their positions")
        if i == ROOT:
            if parent != -1 or node.depth != 0:
                raise TreeError(f"the root has parent {parent!r} and depth {node.depth!r}, not -1 and 0")
        elif type(parent) is not int or not 0 <= parent < i:
            raise TreeError(f"node {i} has parent {parent!r}, not an earlier node (a parent cycle?)")
        elif node.depth != nodes[parent].depth + 1:
            raise TreeError(f"node {i} has depth {node.depth!r}; its parent {parent}'s is {nodes[parent].depth}")
    listed = bytearray(len(nodes))
    for i, node in enumerate(nodes):
        if not isinstance(node.children, list):
            raise TreeError(f"node {i}'s children are {node.children!r}, not a list of node ids")
        for child in node.children:
            if type(child) is not int or not 0 < child < len(nodes) or nodes[child].parent != i:
                raise TreeError(f"node {i} lists child {child!r}, which is no node whose parent is {i}")
            if listed[child]:
                raise TreeError(f"node {i} lists child {child} twice")
            listed[child] = 1
    if sum(listed) != len(nodes) - 1:
        unlisted = next(i for i in range(1, len(nodes)) if not listed[i])
        raise TreeError(f"node {unlisted} is not among its parent {nodes[unlisted].parent}'s children")
    odd = next((n for n in nodes if n.transposes is not None and not _node_id(n.transposes, len(nodes))), None)
    if odd is not None:
        raise TreeError(f"node {odd.id} transposes {odd.transposes!r}, which is no node")
    if not all(_node_id(i, len(nodes)) for i in trace):
        raise TreeError(f"the trace names a node that the tree does not have (it has {len(nodes)})")
    if len(trace_values) > len(trace):  # fewer: a failed search stopped between a visit and its value
        raise TreeError(f"{len(trace_values)} trace values for {len(trace)} trace visits")


def _node_id(value: Any, count: int) -> bool:
    return type(value) is int and 0 <= value < count
