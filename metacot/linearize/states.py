"""States, not nodes: what an audit checks of the positions a trace reaches, as a reader sees them.

A reader sees numbers, not search nodes. Where the search merged transpositions (search.protocol.Transpositions),
the text never reaches the same position (the domain's state_key: the same numbers in any order) by two steps, and a
state the text has called exhausted ("Every step I tried from [X] failed ...") is never stepped from again, by any
node that holds it. Best-of-N's chains are independent samples: they may meet, and only the nodes' own claims are
checked.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from metacot.problems.base import Domain
from metacot.tree import SearchTree


@dataclass
class Positions:
    """The positions the text has reached, and those it has called exhausted (position -> the branch's head)."""

    reached: set[Hashable] = field(default_factory=set)
    exhausted: dict[Hashable, int] = field(default_factory=dict)

    def close(self, key: Hashable | None, head: int) -> None:
        """The text called the branch at `head` exhausted (key: its position; None: the node alone)."""
        self.exhausted[("node", head) if key is None else key] = head

    def closed(self, path: list[int], key: Hashable | None) -> int | None:
        """The head of a branch called exhausted on `path` (root first), else one holding position `key`."""
        heads = set(self.exhausted.values())
        on_path = next((n for n in path if n in heads), None)
        return on_path if on_path is not None or key is None else self.exhausted.get(key)


class Auditor(Protocol):
    """What these checks read of linearize.auditor.Auditor (which imports this module)."""

    tree: SearchTree
    domain: Domain
    problem: Any
    states: dict[int, Any]
    positions: Positions

    def describe(self, node_id: int) -> str: ...
    def fail(self, sentence: str, message: str) -> None: ...
    def claim(self, ok: bool, sentence: str, message: str) -> bool: ...


def position(auditor: Auditor, node_id: int) -> Hashable | None:
    """The node's position as recomputed; None: no state, one the domain takes for no other, or one reached through a
    wrong result taken at face value (the search never merges it: search.runner)."""
    state = auditor.states.get(node_id)
    if state is None or auditor.tree.first_slip(node_id) is not None:
        return None
    return auditor.domain.state_key(state)


def check_arrival(auditor: Auditor, child: int, outcome: Any, sentence: str) -> None:
    """A step to `child`: not from below a head of a branch the text called exhausted, and, where the search merged
    transpositions (SearchTree.transpositions_merged), not from another node holding such a head's numbers, nor to
    numbers the text has reached before by other steps."""
    seen, merged = auditor.positions, auditor.tree.transpositions_merged
    path = auditor.tree.path_to(child)
    head = seen.closed(path[:-1], position(auditor, path[-2]) if merged else None)
    if head is not None:
        auditor.fail(sentence, f"goes on from {auditor.describe(head)}, which the trace said was exhausted")
    key = position(auditor, child) if merged and outcome.error is None and not outcome.terminal else None
    if key is not None:
        said = auditor.domain.describe_state(auditor.problem, outcome.state)
        auditor.claim(key not in seen.reached, sentence, f"reaches {said} again: explored above by other steps")
        seen.reached.add(key)
