"""Count the moves of linearized traces that walk away from a verified win, per strategy (a measurement, not a test).

Runs `metacot synth` in this process for each strategy on the same generated problems (default: 150 Countdown-4
problems of --seed 2027, held out from the demo's seed 0), recording when each node was created (the visits made
before it), then walks each saved tree's trace as `metacot linearize` does (up to the first verified solution) and
counts the moves that leave a node whose verified-correct child had already been created: a backtrack whose
abandoned branch holds such a node, or a step from such a node to another child.

    PYTHONPATH=$PWD python scripts/wins_left.py --out /tmp/wins [--strategies astar,beam] [-- extra synth flags]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from metacot.cli import main as metacot
from metacot.linearize.walk import trace_to_solution, walk
from metacot.outputs.rundir import RunDir
from metacot.tree import ROOT, Node, SearchTree

CREATED: dict[tuple[str, int], int] = {}  # (problem id, node id) -> visits made before the node was created
_add_child = SearchTree.add_child


def _recording_add_child(self: SearchTree, parent: Node, step: str, **attrs: Any) -> Node:
    node = _add_child(self, parent, step, **attrs)
    CREATED[(self.problem_id, node.id)] = len(self.trace)
    return node


def has_win(tree: SearchTree, node_id: int, visit: int) -> bool:
    """Whether the node had a verified-correct child created before trace visit `visit`."""
    nodes = tree.nodes
    return any(nodes[c].correct and CREATED[(tree.problem_id, c)] <= visit for c in nodes[node_id].children)


def wins_left(tree: SearchTree) -> tuple[int, int, int]:
    """(backtracks, backtracks leaving a win, steps leaving a win) of the trace up to its first solution."""
    trace, _ = trace_to_solution(tree, stop_at_first_solution=True)
    backtracks = left_back = left_step = 0
    current = ROOT
    for move in walk(tree, trace):
        if move.kind == "backtrack":
            backtracks += 1
            path = tree.path_to(current)  # the branch left: below the node shared with where the trace resumes
            chain = path[path.index(tree.common_ancestor(current, move.node)) + 1 :]
            left_back += any(has_win(tree, n, move.visit) for n in chain)
        elif not tree.nodes[move.node].correct and has_win(tree, current, move.visit):
            left_step += 1
        current = move.node
    return backtracks, left_back, left_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--strategies", default="astar,beam,mcts,bfs,dfs,best_of_n")
    parser.add_argument("--num-problems", default="150")
    parser.add_argument("--seed", default="2027")
    parser.add_argument("extra", nargs="*", help="more synth flags (after --)")
    args = parser.parse_args()
    SearchTree.add_child = _recording_add_child  # type: ignore[method-assign]
    print("| strategy | solved | nodes/tree | backtracks | backtracks leaving a win | steps leaving a win | "
          "trees with a win left |")
    print("|---|---|---|---|---|---|---|")
    for strategy in args.strategies.split(","):
        out = Path(args.out) / strategy
        flags = ["--search", strategy, "--num-problems", args.num_problems, "--seed", args.seed]
        metacot(["synth", *flags, "--out", str(out), "--no-progress", "--formats", "metacot", *args.extra])
        trees = list(RunDir(out).iter_trees())
        counts = [wins_left(tree) for tree in trees]
        solved = sum(tree.solved for tree in trees)
        nodes = sum(len(tree.nodes) for tree in trees) / len(trees)
        back, left_back, left_step = (sum(c[i] for c in counts) for i in range(3))
        with_left = sum(1 for c in counts if c[1] or c[2])
        print(f"| {strategy} | {solved}/{len(trees)} | {nodes:.1f} | {back} | {left_back} | {left_step} | "
              f"{with_left} |", flush=True)


if __name__ == "__main__":
    main()
