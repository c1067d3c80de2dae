"""Print a saved search tree as an indented outline with scores, visits and the visit trace."""

from __future__ import annotations

from pathlib import Path

from metacot.linearize import LinearizeConfig, linearize
from metacot.linearize.layout import texts
from metacot.outputs.rundir import RunDir, RunDirError
from metacot.tree import Node, SearchTree


def show(run_dir: str | Path, problem_id: str | None = None, fmt: str | None = None) -> str:
    directory = RunDir(run_dir)
    directory.read_manifest()  # a directory without a manifest is not a run: say so before looking for trees
    # an id: the indexes say where its record lies, and the trees before it are not read
    tree = next(directory.iter_trees(), None) if problem_id is None else directory.tree_of(problem_id)
    if tree is None:
        wanted = f"problem {problem_id!r}" if problem_id else "any tree"
        raise RunDirError(f"{run_dir}: no saved tree for {wanted}")
    text = outline(tree)
    if fmt is not None:
        domain = directory.domain()
        record = linearize(tree, domain, fmt, LinearizeConfig(include_unsolved=True))
        text += f"\n\n--- {fmt} ---\n{texts(record)[1] if record else '(no record in this format)'}"
    return text


def outline(tree: SearchTree) -> str:
    """One line per node, indented by depth, children in creation order; the trace order below."""
    order = {node_id: i for i, node_id in reversed(list(enumerate(tree.trace)))}
    lines = [f"{tree.problem_id} {tree.problem}  search={tree.search} nodes={len(tree.nodes)} solved={tree.solved}"]
    stack = [tree.root.id]
    while stack:
        node = tree.nodes[stack.pop()]
        lines.append("  " * node.depth + _describe(node, order.get(node.id)))
        stack.extend(reversed(node.children))
    lines.append("trace: " + " ".join(tree.nodes[i].path for i in tree.trace))
    return "\n".join(lines)


def _describe(node: Node, visited_at: int | None) -> str:
    parts = [node.path, node.step or "(root)"]
    if node.score is not None:
        parts.append(f"score={node.score:.2f}")
    if node.visits:
        parts.append(f"N={node.visits} Q={node.value_sum / node.visits:.2f}")
    if visited_at is not None:
        parts.append(f"#{visited_at}")
    if node.error is not None:
        parts.append(f"DEAD: {node.error}")
    elif node.terminal:
        parts.append("undecided" if node.undecided else "SOLVED" if node.correct else "wrong")
    return "  ".join(parts)
