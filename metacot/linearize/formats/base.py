"""What the registry knows of a trace format: its renderer, its audit parser and the facts the rest of metacot asks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from metacot.linearize.auditor import Parser
from metacot.linearize.render import Context
from metacot.linearize.walk import Move, path_moves
from metacot.problems.base import Domain

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
    # its own moves from the search's, when its text does not make every move (sos: the log's arrivals at states
    # and its returns); None: the search's. A record's counts (num_backtracks, num_steps) are of the moves it renders
    own_moves: Callable[[Context, list[Move]], list[Move]] | None = None
    # the steps of the solution its text reaches (None from it: none), when that need not be the search's solution
    # (sos lists operations the search never made); None: the record answers with the search's solution
    reaches: Callable[[Context, list[Move]], list[str] | None] | None = None

    @property
    def follows_search(self) -> bool:
        """Its lines are the search's moves, each marked by its move: the viewer steps through them."""
        return self.segments and not self.path_only

    def moves(self, ctx: Context, search_moves: list[Move]) -> list[Move] | None:
        """The moves it renders: the search's, its own made from them, or the path to the solution (None: the tree
        has no solution)."""
        if self.path_only:
            return None if ctx.solution is None else path_moves(ctx.tree, ctx.solution)
        return search_moves if self.own_moves is None else self.own_moves(ctx, search_moves)
