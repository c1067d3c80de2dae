"""Turn a visit trace into moves: steps down to a child, backtracks up to an ancestor."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

from metacot.tree import ROOT, Node, SearchTree


@dataclass(frozen=True, slots=True)
class Move:
    """ "step": go from the current node to its child `node`; "backtrack": return to the ancestor `node`.

    visit: the position in the trace of the visit the move is on the way to (-1: not from a trace).
    aside: a dead slip written right before its corrected step: the two read as one attempt, and a reason for the
    backtrack before them speaks of the corrected step (heading)."""

    kind: str
    node: int
    visit: int = field(default=-1, compare=False)
    aside: bool = field(default=False, compare=False)


def trace_to_solution(tree: SearchTree, stop_at_first_solution: bool) -> tuple[list[int], int | None]:
    """The trace to linearize and the solution it reaches (None if unsolved).

    A solution the search created but never visited (its budget ran out first) is visited last.
    """
    trace = tree.trace
    first = next((i for i, node_id in enumerate(trace) if tree.nodes[node_id].correct), None)
    if first is not None:
        return (trace[: first + 1] if stop_at_first_solution else list(trace)), trace[first]
    solutions = tree.solutions()
    if solutions:
        return [*trace, solutions[0].id], solutions[0].id
    return list(trace), None


def walk(
    tree: SearchTree, trace: list[int], positions: list[int] | None = None, leave_out: Collection[int] = ()
) -> list[Move]:
    """Moves that visit the trace's new nodes in order (positions: each trace entry's position in the whole trace,
    when the trace leaves some out, the nodes `leave_out`; by default its own).

    To reach the next node the walk returns to its deepest already-visited ancestor (a backtrack unless that is
    where it stands) and steps down from there; nodes visited before are not visited again.

    A slip the search found is repaired, and never built on (search.expand.repair). Its corrected step is written
    where the search takes it up, as any step: the text arrives only at nodes the search took up, so it never stands
    at a state it leaves unexamined. A corrected step is never written before its slip: a step whose own check finds
    it wrong (a dead slip) is followed at once by its corrected step (a sibling: no backtrack between) when that is
    the search's next visit or failed as it was made (tried with the slip), and a corrected step the search takes up
    first has its dead slip written right before it (the slip was tried first); the slip is then `aside`. Standing
    below a live step the search has since found wrong, the walk goes back to the wrong step's parent (a mistake
    backtrack, reasons.classify) and takes the corrected step. Visits below a step found wrong are skipped from its
    finding on. A corrected step whose numbers another node took up first is merged into it
    (search.protocol.Transpositions): the search never takes it up, so the text never writes it, nor reaches those
    numbers twice. A step the text never writes (silent) is skipped with the visits below it."""
    moves: list[Move] = []
    nodes = tree.nodes
    slips = {n.repair: n.id for n in nodes if n.dead and n.repair is not None and n.repair > n.id}
    current = ROOT
    seen = {ROOT}
    for i, target in enumerate(trace):
        visit = i if positions is None else positions[i]
        if target in seen or skipped(tree, target, visit):
            continue
        unseen = []  # the target and its ancestors up to the deepest visited one, the anchor
        anchor = target
        while anchor not in seen:
            unseen.append(anchor)
            anchor = nodes[anchor].parent
        if anchor != current:
            moves.append(Move("backtrack", anchor, visit))
        for node_id in reversed(unseen):
            slip = slips.get(node_id)
            if slip is not None and slip not in seen and slip not in leave_out:
                moves.append(Move("step", slip, visit, aside=True))
                seen.add(slip)
            moves.append(Move("step", node_id, visit))
            seen.add(node_id)
        current = target
        repair = nodes[target].repair
        if nodes[target].dead and repair is not None and repair not in seen | set(leave_out) and _next(
            nodes[repair], trace[i + 1 :]
        ):
            moves[-1] = replace(moves[-1], aside=True)
            moves.append(Move("step", repair, visit))
            seen.add(repair)
            current = repair
    return moves


def skipped(tree: SearchTree, node_id: int, visit: int) -> bool:
    """The walk passes over trace visit `visit` to the node: below a step the search had found wrong by then, or a
    step the text never writes."""
    return tree.found_slip(node_id, visit) is not None or silent(tree, node_id)


def silent(tree: SearchTree, node_id: int) -> bool:
    """The text never writes the node: it is at or below a slip taken at face value whose finding the text cannot
    show (shown_found), or whose right version the search took up first (written, the slip would be the text getting
    wrong what it has got right), or below a second slip on its path (a path's verification finds its first slip
    alone). Written, such a slip would stand in the text as right arithmetic that nothing calls wrong, or as a repair
    before its slip."""
    slips = [i for i in tree.path_to(node_id) if tree.nodes[i].slip is not None]
    if not slips:
        return False
    first = tree.nodes[slips[0]]
    repaired_first = not first.dead and first.repair is not None and _before(tree.trace, first.repair, first.id)
    return len(slips) > 1 or repaired_first or not shown_found(tree, first.id)


def _before(trace: list[int], a: int, b: int) -> bool:
    """The trace visits node a, and before it visits node b (if it does)."""
    for visited in trace:
        if visited in (a, b):
            return visited == a
    return False


def shown_found(tree: SearchTree, slip: int) -> bool:
    """The search found the slip (a first slip on its paths) where the text can say so: it finished a path (its own
    check names it), or the text writes a finished path below it, or stands below it when it leaves for a step
    outside it after the search has verified a finished path below where it stands, through no second slip (a
    mistake backtrack, reasons.classify). Not: a slip the text leaves unverified (for a sibling with the right
    result, or a better value) and the search finds later, from where the text never stands (beam expands a layer at
    a time), nor one found only through a second slip. Worked out once per slip (SearchTree.shown); asked again
    while it is being worked out (the walk the answer follows passes a slip whose own answer passes this one), a
    finished path below it is taken to show it."""
    at, known = tree.shown
    if at != len(tree.trace):
        known = {}
        tree.shown = (len(tree.trace), known)
    if slip not in known:
        known[slip] = None
        known[slip] = _named_where(tree, slip)
    found = known[slip]
    return finished_below(tree, slip) if found is None else found


def _named_where(tree: SearchTree, slip: int) -> bool:
    """shown_found, following the walk: the first visit to each node but those it skips (walk.skipped)."""
    nodes = tree.nodes
    if nodes[slip].terminal:  # its own check names it, written as a step or listed as an attempt
        return nodes[slip].error is None
    seen: set[int] = set()
    standing: int | None = None  # where the text stands, when below the slip
    for visit, node_id in enumerate(tree.trace):
        path = tree.path_to(node_id)
        below = slip in path
        if below:  # below a second slip, or from the finding on
            passed = any(nodes[i].slip is not None for i in path[path.index(slip) + 1 :])
            passed = passed or tree.found_slip(node_id, visit) is not None
        else:
            passed = skipped(tree, node_id, visit)
        if node_id in seen or passed:
            continue
        seen.update(path)  # the walk writes the steps down to it
        if standing is not None and not below and _checked_below(tree, standing, visit):
            return True
        standing = None
        if below:
            if nodes[node_id].terminal:
                return nodes[node_id].error is None
            standing = node_id
    return False


def _checked_below(tree: SearchTree, node_id: int, visit: int) -> bool:
    """A finished path at the node or below it, through no other slip before its last step, made before trace visit
    `visit` (SearchTree.verified_below): its check finds the slip above the node first."""
    node = tree.nodes[node_id]
    if node.terminal:
        return node.error is None
    clean = (c for c in node.children if tree.nodes[c].slip is None or tree.nodes[c].terminal)
    return tree.expanded_by(node_id, visit) and any(_checked_below(tree, c, visit) for c in clean)


def finished_below(tree: SearchTree, slip: int) -> bool:
    """A finished path below the slip (its own step, or one through no other slip before its last step) checks it."""
    stack = [slip]
    while stack:
        node = tree.nodes[stack.pop()]
        if node.terminal and node.error is None:
            return True
        stack += [c for c in node.children if tree.nodes[c].slip is None or tree.nodes[c].terminal]
    return False


def _next(repair: Node, later: list[int]) -> bool:
    """A dead slip's corrected step is written right after it: when the search takes it up next, or when the domain
    found it failed as it was made (tried with the slip: never written before it, as an attempt or later)."""
    return repair.dead or later[:1] == [repair.id]


def heading(moves: list[Move], index: int) -> Move:
    """The move the text heads for from `index` on: the first that is not aside."""
    return next(move for move in moves[index:] if not move.aside)


def path_moves(tree: SearchTree, node_id: int) -> list[Move]:
    """Steps from the root down to a node (a clean solution path), each with the position of its first visit."""
    first: dict[int, int] = {}
    for visit, visited in enumerate(tree.trace):
        first.setdefault(visited, visit)
    return [Move("step", i, first.get(i, len(tree.trace))) for i in tree.path_to(node_id)[1:]]


def count_backtracks(moves: list[Move]) -> int:
    return sum(1 for m in moves if m.kind == "backtrack")
