"""Child creation: the policy's proposals for a node become checked child nodes of the tree."""

from __future__ import annotations

from typing import Any

from metacot.policy.base import Proposal
from metacot.problems.base import Domain, StepOutcome
from metacot.problems.verdicts import keeping
from metacot.tree import Node, SearchTree

TRUNCATED = "the step was cut off at the token limit"


def grow(domain: Domain, problem: Any, tree: SearchTree, node: Node, proposals: list[Proposal]) -> list[Node]:
    """Add one child per distinct proposal, each checked by the domain: illegal or truncated steps become dead
    nodes; a terminal step is correct only when its whole path verifies. A step identical to a sibling's is merged
    into it (counted in its `duplicates`), not searched twice. Expanding a node again (widening) counts in its
    `reexpanded`; a first expansion records when it came in the visit order (`expanded_at`: the visits made before
    it). Answer verdicts are kept in the tree (problems.verdicts)."""
    if node.expanded:
        node.reexpanded += 1
    else:
        node.expanded_at = len(tree.trace)
    node.expanded = True
    compute = tree.compute
    compute.policy_calls += 1
    compute.proposals += len(proposals)
    siblings = {tree.nodes[i].step: tree.nodes[i] for i in node.children}
    apply_move = getattr(domain, "apply_move", None)  # a domain that takes a proposal's move (Proposal.move)
    children = []
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
            if outcome.correct and domain.first_mistake(problem, [*tree.steps_to(node.id), p.text]) is not None:
                outcome.correct = False  # the verification of the whole path finds a mistake taken at face value
            child = tree.add_child(
                node,
                p.text,
                state=outcome.state,
                tokens=p.tokens,
                logprob=p.logprob,
                finish_reason=p.finish_reason,
                terminal=outcome.terminal,
                correct=outcome.correct,
                error=outcome.error,
                slip=outcome.slip,
            )
            siblings[p.text] = child
            children.append(child)
    return children
