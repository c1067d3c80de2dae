"""Search algorithms written as request generators, and the runner that batches them."""

from __future__ import annotations

from functools import partial

from metacot.search.astar import AStarConfig, astar
from metacot.search.mcts import MCTSConfig, mcts
from metacot.search.runner import Expand, Runner, RunnerStats, Score, Search

SEARCHES = {"mcts": (MCTSConfig, mcts), "astar": (AStarConfig, astar)}


def make_search(name: str, config) -> Search:
    """The search function for a strategy name, bound to its config."""
    if name not in SEARCHES:
        raise ValueError(f"unknown search {name!r}: expected one of {', '.join(SEARCHES)}")
    return partial(SEARCHES[name][1], config=config)


__all__ = ["SEARCHES", "AStarConfig", "Expand", "MCTSConfig", "Runner", "RunnerStats", "Score", "make_search"]
