"""The attempts a conclusion about a state rests on: the steps tried from it by a trace visit, and their words.

A trace that concludes something about a state (every step from it failed, its value is low, another option scores
as much) shows first every step it tried from there with its verdict ("From [44, 101]: 44 * 101 = 4444 (4444 is not
33); 101 - 44 = 57 (57 is not 33)."), in the order tried. Tried steps the text has not written are the failed ones:
a step the domain checks as it is created (an illegal or wrong step, a finished path that is no solution) is tried,
and a live step is tried when the search takes it up, which the text writes as a step. A failed step the text
writes later (the search came back to it) is shown there, as a new attempt, not listed before. A listed slip is
repaired where it is named: its corrected step (the domain's, a real child: Node.repair) comes right after it, with
its verdict, or the value the search held for it when the search never took it up ("68 + 9 = 79 (wrong: 68 + 9 is
77, not 79); 68 + 9 = 77 (value 0.00)"), unless the text writes it as a step.
"""

from __future__ import annotations

from collections.abc import Collection

from metacot.linearize.walk import silent
from metacot.tree import SearchTree

ATTEMPTS = "From {state}: {attempts}."
SEPARATOR = "; "  # between attempts: a verdict may hold a comma ("44 + 101 is 145, not 147")
FAILED = "{step} ({why})"
WRONG = "wrong: {error}"
# a listed slip's corrected step the search never took up: the value it held for it, or (none) where it leads
REPAIRED = "{step} (value {v})"
REPAIRED_UNSCORED = "{step} (leads to {state})"


def attempt_words(step: str, error: str | None, verdict: str) -> str:
    """One tried step: as written, then why it failed (the domain's error, or the verdict of the finished path)."""
    why = WRONG.format(error=error) if error is not None else verdict.rstrip(".")
    return FAILED.format(step=step.strip().rstrip("."), why=why)


def repaired_words(step: str, value: str | None, state: str) -> str:
    """A listed slip's corrected step that the search never took up: as written, then its printed value (or, with
    none, the state it leads to)."""
    step = step.strip().rstrip(".")
    return REPAIRED_UNSCORED.format(step=step, state=state) if value is None else REPAIRED.format(step=step, v=value)


def with_repairs(tree: SearchTree, shown: list[int], written: Collection[int]) -> list[int]:
    """The steps a listing shows, each slip the domain found wrong followed by its corrected step (a dead one listed
    anyway moves there) unless the text writes that step elsewhere (`written`)."""
    listed: list[int] = []
    for child in shown:
        if child in listed:
            continue
        listed.append(child)
        node = tree.nodes[child]
        if node.error is not None and node.repair is not None and node.repair not in written:
            listed += [] if node.repair in listed else [node.repair]
    return listed


def tried(tree: SearchTree, node_id: int, visit: int) -> list[int]:
    """The failed steps from the node the search had made before trace visit `visit`, in the order tried: children
    of its first expansion (made by then), and children of later ones when some node created no earlier than them was
    visited by then (a later expansion's time is not saved; this never counts one made after the visit); none the
    text never writes (walk.silent)."""
    node = tree.nodes[node_id]
    if not node.children or not tree.expanded_by(node_id, visit):
        return []
    latest = max(tree.trace[: visit + 1], default=0)
    first = node.children[0]
    made = [c for i, c in enumerate(node.children) if c == first + i or c <= latest]
    return [c for c in made if tree.nodes[c].dead and not silent(tree, c)]


def covered(tree: SearchTree, head: int, visit: int, whole_branch: bool) -> list[int]:
    """The nodes whose tried steps a conclusion about `head` rests on, deepest first: the head alone, or (an
    exhausted branch) with the live nodes below it expanded by trace visit `visit`, save those below a step the search
    had found wrong by then and those the text never writes (walk.silent)."""
    if not whole_branch:
        return [head]
    below = []
    for child in tree.nodes[head].children:  # not below a step found wrong: the text named it, and left
        searched = not tree.nodes[child].dead and tree.expanded_by(child, visit)
        if searched and tree.found_slip(child, visit) is None and not silent(tree, child):
            below += covered(tree, child, visit, True)
    return [*below, head]


def rested_on(tree: SearchTree, head: int, visit: int) -> list[int]:
    """Every tried step an exhausted claim about `head` rests on (the tried steps of the nodes it covers)."""
    return [child for node_id in covered(tree, head, visit, True) for child in tried(tree, node_id, visit)]
