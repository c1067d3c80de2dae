"""The strategy registry and the [search] config section: adding a strategy means its module and one entry here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from metacot.flags import flag
from metacot.search.astar import AStarConfig, astar
from metacot.search.beam import BeamConfig, beam
from metacot.search.best_of_n import BestOfNConfig, best_of_n
from metacot.search.bfs import BFSConfig, DFSConfig, bfs, dfs
from metacot.search.mcts import MCTSConfig, mcts
from metacot.search.protocol import Search, SearchGen, StrategyConfig

# name -> (config class, search function); the name is also the config section: [search.<name>]
SEARCHES: dict[str, tuple[type[StrategyConfig], Callable[..., SearchGen]]] = {
    "mcts": (MCTSConfig, mcts),
    "astar": (AStarConfig, astar),
    "beam": (BeamConfig, beam),
    "best_of_n": (BestOfNConfig, best_of_n),
    "bfs": (BFSConfig, bfs),
    "dfs": (DFSConfig, dfs),
}


@dataclass
class SearchConfig:
    """[search]: the strategy to run and one section per registered strategy (a field per SEARCHES entry)."""

    strategy: str = flag("search strategy", "mcts", name="--search", choices=lambda: SEARCHES)
    mcts: MCTSConfig = field(default_factory=MCTSConfig)
    astar: AStarConfig = field(default_factory=AStarConfig)
    beam: BeamConfig = field(default_factory=BeamConfig)
    best_of_n: BestOfNConfig = field(default_factory=BestOfNConfig)
    bfs: BFSConfig = field(default_factory=BFSConfig)
    dfs: DFSConfig = field(default_factory=DFSConfig)


def make_search(name: str, config: StrategyConfig) -> Search:
    """The search function for a strategy name, bound to its config, which is checked now (a setting changed
    after the config was built fails here, before anything runs); a ValueError names search.<name>.<key>."""
    if name not in SEARCHES:
        raise ValueError(f"unknown search {name!r}: expected one of {', '.join(SEARCHES)}")
    try:
        config.validate()
    except ValueError as error:
        raise ValueError(f"search.{name}.{error}") from None
    return partial(SEARCHES[name][1], config=config)


def strategies_with(setting: str) -> list[str]:
    """The registered strategies whose config has this setting, e.g. "expand_width"."""
    return [name for name, (cls, _) in SEARCHES.items() if setting in {f.name for f in dataclasses.fields(cls)}]
