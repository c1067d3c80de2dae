"""Transpositions: a position (the domain's state_key) is taken up once per search, as in textbook graph search.

The same numbers reached by other steps ([25, 16, 6] by "25 - 19 = 6" or after "21 - 16 = 5" in the other order)
are one position: the first node to take it up holds it, and a later node reaching it is merged into that one (it
stays in the tree, never taken up, with the holder in its `transposes`; it counts in the holder's `duplicates`).
Terminal nodes are never merged: each is its own answer, checked where it is created. A strategy asks for the keys
of the nodes it creates (`yield from seen.learn(children)`) and asks `seen.take(node)` where it would take a node
up.
"""

from __future__ import annotations

from collections.abc import Generator, Hashable
from dataclasses import dataclass, field
from typing import Any

from metacot.search.protocol import StateKeys
from metacot.tree import Node, SearchTree


@dataclass
class Transpositions:
    tree: SearchTree
    keys: dict[int, Hashable | None] = field(default_factory=dict)  # node id -> its position (None: none to merge)
    taken: dict[Hashable, Node] = field(default_factory=dict)  # position -> the node that took it up
    waiting: dict[Hashable, Node] = field(default_factory=dict)  # position -> a corrected step not taken up yet
    heard: int = 0  # the slips' corrected steps (SearchTree.corrections) heard of so far

    def __post_init__(self) -> None:
        self.tree.transpositions_merged = True

    def learn(self, nodes: list[Node]) -> Generator[StateKeys, Any, None]:
        """Ask the runner for the positions of the nodes and of the slips' corrected steps made since (answered at
        once, without a backend call). A trace writes a corrected step right after its slip is named, whether or not
        the search takes it up: one whose numbers are taken up is merged into their holder; another waits, merged into
        whichever node takes its position up first (itself, when it is taken up before any other), and a later
        corrected step to the same numbers into it."""
        corrected = [self.tree.nodes[i] for i in self.tree.corrections[self.heard :]]
        self.heard = len(self.tree.corrections)
        asked = list({n.id: n for n in (*nodes, *corrected) if n.id not in self.keys}.values())
        if asked:
            self.keys.update(zip((n.id for n in asked), (yield StateKeys(asked)), strict=True))
        for node in corrected:
            key = self.keys[node.id]
            if key is None or node.terminal:
                continue
            first = self.taken.get(key, self.waiting.get(key))
            if first is None:
                self.waiting[key] = node
            elif first is not node:  # (a sibling taken as the correction of two slips is heard of twice)
                self._merge(node, first)

    def take(self, node: Node) -> bool:
        """Whether the node may be taken up: it is terminal, has no position, or holds its position (now, or since it
        was taken up before). Else it is a transposition, merged into the holder: False."""
        key = None if node.terminal else self.keys.get(node.id)
        if key is None:
            return True
        if node.transposes is not None:  # merged before (a corrected step, while it waited)
            return False
        holder = self.taken.setdefault(key, node)
        if holder is not node:
            self._merge(node, holder)
            return False
        corrected = self.waiting.pop(key, node)
        if corrected is not node:
            self._merge(corrected, node)
        return True

    def _merge(self, node: Node, holder: Node) -> None:
        if node.transposes is None:
            holder.duplicates += 1
            node.transposes = holder.id
