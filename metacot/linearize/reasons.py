"""Why a trace leaves a node: a mistake found, an exhausted subtree, a low value, or exploration; and the words.

A reason is decided from the tree as the search knew it when it left (the children it had generated and checked,
the values it held then), so that every sentence is true of the saved tree and `metacot audit` can re-check it:
- exhausted: every node of the abandoned branch is dead or failed, or was expanded into such nodes only (an answer
  the check could not decide is neither: the branch may hold a solution);
- low value: the value the search held for the node it leaves is below the next node's value, or low (< LOW);
  stated as an opinion with the value, never as a dead end;
- mistake (problems.countdown.notice = "when-found"): the trace leaves, for a node outside the subtree of a wrong
  step taken at face value, a finished path whose verification found that step ("Checking the steps: 12 + 5 is
  17, not 18.", the path's verdict), or a node below which the search has verified finished paths (MCTS verifies
  the children it creates; the check is then stated with the reason): "The mistake was in 12 + 5 = 18." (true:
  every path through that step holds the mistake). A return into the wrong step's subtree gets one of the
  reasons below, as the search did go on from there;
- exploration: anything else (MCTS's exploration term, beam width, BFS order, best-of-N's next chain): a
  neutral wording that claims nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from metacot.linearize.walk import Move
from metacot.tree import SearchTree

EXHAUSTED, LOW_VALUE, EXPLORATION, MISTAKE = "exhausted", "low_value", "exploration", "mistake"
KINDS = (EXHAUSTED, LOW_VALUE, EXPLORATION, MISTAKE)
LOW = 0.3  # a value below this is low even when the next node's value is no higher

# {state}: a state as Domain.describe_state words it; {goal}: what a solution does (Domain.goal: "reach 33"); {v},
# {w}: values.
EXHAUSTED_WORDS = (
    "None of the steps I tried from {state} {goal}.",
    "Every step I tried from {state} failed to {goal}.",
    "I have tried the steps I found from {state}, and none of them {goal}.",
    "Nothing I tried from {state} managed to {goal}.",
)
LOWER_WORDS = (
    "This looks unlikely (value {v}); another option looks better ({w}).",
    "This looks unlikely (value {v}), and the next option scores higher ({w}).",
    "The value here is only {v}, while another option has {w}.",
    "Hmm, this only scores {v}; something else scores {w}.",
)
LOW_WORDS = (
    "This looks unlikely (value {v}).",
    "The value of {state} is low ({v}).",
    "Hmm, this does not look promising (value {v}).",
)
EXPLORATION_WORDS = (
    "Let me also look at another option before going on.",
    "Before going deeper, let me check another possibility.",
    "Let me also try a different branch.",
    "An alternative is worth a look too.",
)
# {step}: the wrong step as written, without its final period. CAUGHT: the verdict of a finished path whose
# verification finds a wrong step taken earlier at face value ({why}: "12 + 5 is 17, not 18").
MISTAKE_WORDS = (
    "The mistake was in {step}.",
    "So {step} was wrong, and every step after it built on that.",
    "The error was {step}; what came after it cannot be trusted.",
    "I went wrong at {step}.",
)
CAUGHT = "Checking the steps: {why}."
CAUGHT_BELOW = "Checking the steps of the paths I finished from {state}: {why}."
GO_BACK_WORDS = (
    "Let me go back to {state} and try something else.",
    "Let me return to {state} and try a different step.",
    "I'll go back to {state} and try another step.",
    "Going back to {state}.",
    "Let me pick up again from {state}.",
)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why the trace leaves `left` for a backtrack. mistake: `subject` is the first wrong step on `left`'s path.
    exhausted: `subject` heads the exhausted branch (`left` itself when its own step failed: the verdict already
    said so). low value: `value` is what the search held for `left`,
    `better` the next node's value when that is higher."""

    kind: str
    left: int
    subject: int
    value: float | None = None
    better: float | None = None


def classify(tree: SearchTree, left: int, backtrack: Move, next_step: Move) -> Reason:
    """The reason for a backtrack from `left` (where the trace stands) to the ancestor `backtrack.node`, followed
    by `next_step`; `backtrack.visit` is the trace position of the visit the search goes to, and the search knew
    the expansions it had made before it (SearchTree.expanded_by)."""
    visit = backtrack.visit
    slip = tree.first_slip(left)
    if slip is not None and slip not in tree.path_to(backtrack.node) and verified_below(tree, left, visit):
        return Reason(MISTAKE, left, slip)
    chain = abandoned(tree, left, backtrack.node)
    head = next((node_id for node_id in reversed(chain) if exhausted(tree, node_id, visit)), None)
    if head is not None:
        return Reason(EXHAUSTED, left, head)
    value = tree.value_at(left, visit - 1)
    better = tree.value_at(next_step.node, visit)
    if value is not None and better is not None and value < better:
        return Reason(LOW_VALUE, left, left, value, better)
    if value is not None and value < LOW:
        return Reason(LOW_VALUE, left, left, value)
    return Reason(EXPLORATION, left, left)


def abandoned(tree: SearchTree, left: int, resume: int) -> list[int]:
    """The branch the backtrack leaves: `left` and its ancestors below the one it shares with `resume` (an earlier
    visited node it goes back to), deepest first."""
    path = tree.path_to(left)
    return path[path.index(tree.common_ancestor(left, resume)) + 1 :][::-1]


def exhausted(tree: SearchTree, node_id: int, visit: int) -> bool:
    """Dead (but not undecided), or expanded before trace visit `visit` into exhausted children only."""
    node = tree.nodes[node_id]
    if node.dead:
        return not node.undecided
    return tree.expanded_by(node_id, visit) and all(exhausted(tree, child, visit) for child in node.children)


def verified_below(tree: SearchTree, node_id: int, visit: int) -> bool:
    """A finished path (a terminal step, not an illegal one) at the node or below it, created before trace visit
    `visit`: the search has verified it."""
    node = tree.nodes[node_id]
    if node.terminal:
        return node.error is None
    return tree.expanded_by(node_id, visit) and any(verified_below(tree, child, visit) for child in node.children)


def value_text(value: float) -> str:
    return f"{value:.2f}"
