"""Search algorithms written as request generators, and the runner that batches them."""

from __future__ import annotations

from metacot.search.astar import AStarConfig
from metacot.search.beam import BeamConfig
from metacot.search.best_of_n import BestOfNConfig
from metacot.search.bfs import BFSConfig, DFSConfig
from metacot.search.budget import UNITS, Allowance, Budget, ComputeTarget
from metacot.search.config import SEARCHES, SearchConfig, make_search, strategies_with
from metacot.search.mcts import MCTSConfig
from metacot.search.protocol import Expand, Request, Score, Search, SearchGen, StateKeys, StrategyConfig
from metacot.search.runner import Runner, RunnerStats

__all__ = [
    "SEARCHES",
    "UNITS",
    "AStarConfig",
    "Allowance",
    "BFSConfig",
    "BeamConfig",
    "BestOfNConfig",
    "Budget",
    "ComputeTarget",
    "DFSConfig",
    "Expand",
    "MCTSConfig",
    "Request",
    "Runner",
    "RunnerStats",
    "Score",
    "StateKeys",
    "Search",
    "SearchConfig",
    "SearchGen",
    "StrategyConfig",
    "make_search",
    "strategies_with",
]
