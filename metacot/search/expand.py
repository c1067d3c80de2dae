"""Child creation: the policy's proposals for a node become checked child nodes of the tree, and a slip the checks
find is repaired: the domain's corrected step becomes a child of the slip's parent."""

from __future__ import annotations

from typing import Any

from metacot.policy.base import Proposal
from metacot.problems.base import Domain, StepOutcome
from metacot.problems.verdicts import keeping
from metacot.search.budget import Budget
from metacot.tree import Node, SearchTree

TRUNCATED = "the step was cut off at the token limit"


def grow(
    domain: Domain,
    problem: Any,
    tree: SearchTree,
    node: Node,
    proposals: list[Proposal],
    budget: Budget | None = None,
    held: tuple[int, int] = (0, 0),
) -> list[Node]:
    """Add one child per distinct proposal, each checked by the domain: illegal or truncated steps become dead
    nodes; a terminal step is correct only when its whole path verifies. A step identical to a sibling's is merged
    into it (counted in its `duplicates`), not searched twice. Expanding a node again (widening) counts in its
    `reexpanded`; a first expansion records when it came in the visit order (`expanded_at`: the visits made before
    it). Answer verdicts are kept in the tree (problems.verdicts).

    A slip the checks find (a wrong result, or the first wrong step a finished path's verification finds) is
    repaired (repair): its corrected step is among the children returned when the slip is a step from this node,
    else among those of its parent's next expansion (the search may go on from it like any child); only while the
    search's budget has a node, and a scored node, left for it beyond what the rest of the round holds (held: the
    nodes the round's later expansions may still make, and the children its earlier ones made, scored with these)."""
    waiting = [tree.nodes[i] for i in tree.unreported.pop(node.id, [])]
    mark_expanded(tree, node)
    compute = tree.compute
    compute.policy_calls += 1
    compute.proposals += len(proposals)
    siblings = {tree.nodes[i].step: tree.nodes[i] for i in node.children}
    apply_move = getattr(domain, "apply_move", None)  # a domain that takes a proposal's move (Proposal.move)
    made = []
    with keeping(tree.verdicts):
        for p in proposals:
            compute.generated_tokens += p.tokens
            if p.text in siblings:
                siblings[p.text].duplicates += 1
                continue
            if p.finish_reason == "length":
                outcome = StepOutcome(state=None, terminal=True, correct=False, error=TRUNCATED)
            elif p.move is not None and apply_move is not None:
                outcome = apply_move(problem, node.state, p.text, p.move)
            else:
                outcome = domain.apply_step(problem, node.state, p.text)
            child = add_checked(domain, problem, tree, node, p.text, outcome, p.tokens, p.logprob, p.finish_reason)
            child.cites = p.cites
            siblings[p.text] = child
            made.append(child)
        for child in made:  # grows while it is read: a repair may finish a path that finds an earlier slip
            if not room_for_repair(budget, tree, held[0], held[1] + len(made)):
                break
            repaired = repair(domain, problem, tree, child)
            if repaired is not None:
                made.append(repaired)
    for child in made:
        if child.parent != node.id:
            tree.unreported.setdefault(child.parent, []).append(child.id)
    return [*waiting, *(child for child in made if child.parent == node.id)]


def add_checked(
    domain: Domain,
    problem: Any,
    tree: SearchTree,
    parent: Node,
    step: str,
    outcome: StepOutcome,
    tokens: int = 0,
    logprob: float | None = None,
    finish_reason: str = "stop",
) -> Node:
    """The child of `parent` with the step's outcome; a terminal one correct only when its whole path verifies."""
    if outcome.correct and domain.first_mistake(problem, [*tree.steps_to(parent.id), step]) is not None:
        outcome.correct = False  # the verification of the whole path finds a mistake taken at face value
    return tree.add_child(
        parent,
        step,
        state=outcome.state,
        tokens=tokens,
        logprob=logprob,
        finish_reason=finish_reason,
        terminal=outcome.terminal,
        correct=outcome.correct,
        error=outcome.error,
        slip=outcome.slip,
    )


def repair(domain: Domain, problem: Any, tree: SearchTree, child: Node) -> Node | None:
    """The slip the new child's check finds, repaired: the child itself when its result is wrong (a dead node, or a
    finished path taken at face value), or the first wrong step above it that the verification of its finished path
    finds (found now: nothing below it is expanded from here on, see `settled`). The slip's corrected step
    (Domain.correct_step) becomes a child of the slip's parent, or the sibling that already has that step is taken:
    the new node, or None (nothing found, found before, or a domain that cannot correct it)."""
    if child.error is not None:
        slip: Node | None = child if child.finish_reason != "length" else None
    elif child.terminal:
        first = tree.first_slip(child.id)
        slip = None if first is None else tree.nodes[first]
    else:
        return None
    if slip is None or slip.repair is not None:
        return None
    if not slip.dead and slip.noticed_at is None:
        slip.noticed_at = len(tree.trace)
    parent = tree.nodes[slip.parent]
    corrected = domain.correct_step(problem, parent.state, slip.step)
    if corrected is None:
        return None
    twin = next((c for c in parent.children if tree.nodes[c].step == corrected), None)
    if twin is not None:
        slip.repair = twin
        tree.corrections.append(twin)
        return None
    outcome = domain.apply_step(problem, parent.state, corrected)
    fixed = add_checked(domain, problem, tree, parent, corrected, outcome)
    tree.compute.repairs += 1
    slip.repair = fixed.id
    tree.corrections.append(fixed.id)
    return fixed


def room_for_repair(budget: Budget | None, tree: SearchTree, reserved: int, unscored: int) -> bool:
    """The budget has a scored node left for one more child beyond the `reserved` ones the round's later expansions
    may make and the `unscored` children made (the search scores them, the repair with them). A repair spends no
    node of the budget (budget.spent): no model made it."""
    return budget is None or budget.allowance(tree.compute).scored_nodes > reserved + unscored


def settled(tree: SearchTree, node: Node) -> bool:
    """The node builds on a step the search has found wrong (a live slip, repaired): its expansion is refused."""
    return tree.found_slip(node.id, len(tree.trace)) is not None


def mark_expanded(tree: SearchTree, node: Node) -> None:
    """Expanding a node again (widening) counts in its `reexpanded`; a first expansion records when it came."""
    if node.expanded:
        node.reexpanded += 1
    else:
        node.expanded_at = len(tree.trace)
    node.expanded = True
