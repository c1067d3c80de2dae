"""What the registry knows of a trace format: its renderer, its audit parser and the facts the rest of metacot asks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from metacot.linearize.auditor import Parser
from metacot.linearize.render import Context
from metacot.linearize.walk import Move, path_moves
from metacot.problems.base import Domain
from metacot.tree import SearchTree

Render = Callable[[Context, list[Move]], list[str]]


def every_domain(domain: Domain) -> bool:
    return True


@dataclass(frozen=True)
class TraceFormat:
    """One trace format. A record's completion is its rendered lines joined as the domain separates steps, then the
    answer block; its name (the registry's key) is the record's "format" and its file's name."""

    help: str  # a few words for the --formats help
    render: Render  # the lines of the moves; a Lines (linearize.render), each line marked by its move, when `segments`
    # the audit of a record's body (auditor.Auditor, the body's lines, the answer); None: its answer alone is checked
    parse: Parser | None = None
    segments: bool = False  # render returns Lines: a record can be cut into segments by move (objectives, the viewer)
    path_only: bool = False  # rendered from the answered solution's path alone, not the search's moves
    on_request: bool = False  # written only when asked for (a preset does), not among the defaults
    serves: Callable[[Domain], bool] = every_domain  # the domains that can write it
    needs: str = ""  # what a domain it does not serve lacks, for the error

    @property
    def follows_search(self) -> bool:
        """Its lines are the search's moves, each marked by its move: the viewer steps through them."""
        return self.segments and not self.path_only

    def moves(self, tree: SearchTree, search_moves: list[Move], solution: int | None) -> list[Move] | None:
        """The moves it renders: the search's, or the path to the solution (None: the tree has no solution)."""
        if not self.path_only:
            return search_moves
        return None if solution is None else path_moves(tree, solution)
