"""Search algorithms written as request generators, and the runner that batches them."""

from __future__ import annotations

from functools import partial

from metacot.search.astar import AStarConfig, astar
from metacot.search.beam import BeamConfig, beam
from metacot.search.best_of_n import BestOfNConfig, best_of_n
from metacot.search.bfs import BFSConfig, DFSConfig, bfs, dfs
from metacot.search.budget import UNITS, Allowance, Budget
from metacot.search.mcts import MCTSConfig, mcts
from metacot.search.runner import Expand, Runner, RunnerStats, Score, Search

# name -> (config class, search function); the name is also the config section: [search.<name>]
SEARCHES = {
    "mcts": (MCTSConfig, mcts),
    "astar": (AStarConfig, astar),
    "beam": (BeamConfig, beam),
    "best_of_n": (BestOfNConfig, best_of_n),
    "bfs": (BFSConfig, bfs),
    "dfs": (DFSConfig, dfs),
}


def make_search(name: str, config) -> Search:
    """The search function for a strategy name, bound to its config."""
    if name not in SEARCHES:
        raise ValueError(f"unknown search {name!r}: expected one of {', '.join(SEARCHES)}")
    return partial(SEARCHES[name][1], config=config)


__all__ = [
    "SEARCHES",
    "UNITS",
    "AStarConfig",
    "Allowance",
    "BFSConfig",
    "BeamConfig",
    "BestOfNConfig",
    "Budget",
    "DFSConfig",
    "Expand",
    "MCTSConfig",
    "Runner",
    "RunnerStats",
    "Score",
    "make_search",
]
