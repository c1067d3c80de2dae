"""Why a trace leaves a node: a mistake found, an exhausted subtree, a value comparison, or the order steps were
found in; and the words.

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
- exploration: anything else (MCTS's exploration term, beam width, BFS order, best-of-N's next chain), worded by
  what the tree grounds: the next step scores as much as this node, or less but is untried (a value comparison),
  or, with no values, it was found before the steps from here (steps are taken up in the order found).
Values are compared as printed (value_text): a sentence never says 1.00 is below 1.00.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from metacot.linearize.attempts import rested_on
from metacot.linearize.walk import Move
from metacot.tree import SearchTree

EXHAUSTED, LOW_VALUE, EXPLORATION, MISTAKE = "exhausted", "low_value", "exploration", "mistake"
LOWER, TIE, AHEAD, ORDER, REASONLESS = "lower", "tie", "ahead", "order", "reasonless"  # how a reason is worded
UNSCORED = "unscored"  # a corrected step the search held no value for (FIX_WORDS)
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
    "This scores {v}; another option looks better ({w}).",
    "This scores {v}, and the next option scores higher ({w}).",
    "The value here is only {v}, while another option has {w}.",
    "Hmm, this only scores {v}; something else scores {w}.",
)
LOW_WORDS = (
    "This looks unlikely (value {v}).",
    "The value of {state} is low ({v}).",
    "Hmm, this does not look promising (value {v}).",
)
# exploration, by what grounds it: the next step scores as much as here ({v} = {w} as printed), less but untried,
# or, with no values to compare, it was found before the steps from here
TIE_WORDS = (
    "This scores {v}, and another step scores {w} too, so let me try that one as well.",
    "Another step scores {w}, as much as this one ({v}); let me look at it too.",
    "The value here is {v}, and a step I have not tried also has {w}.",
)
AHEAD_WORDS = (
    "This scores {v}, more than the {w} of another step, but that step is untried; let me look at it.",
    "The value here is {v}; a step I have not tried yet has {w}, lower, but worth a look before going deeper.",
)
ORDER_WORDS = (
    "I found other steps before the ones from here, so they come first.",
    "Steps found earlier come first, and there are some I have not tried yet.",
)
# backtracks with no reason, as metacot wrote them before: the audit flags them
REASONLESS_WORDS = (
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
# after the mistake words, when the search goes on elsewhere than the wrong step's state: its corrected step (a real
# child, search.expand.repair; {fix}: as written, {fixed}: the state it leads to) and why the next option comes first
# (FIX_WORDS: what grounds it, fix_reason)
FIX_WORDS = {
    LOWER: "Its right version, {fix}, scores {v}; another option scores higher ({w}).",
    ORDER: "Its right version, {fix}, leads to {fixed}; I found other steps before it, so they come first.",
    TIE: "Its right version, {fix}, scores {v}, and another step scores {w} too; let me try that one first.",
    AHEAD: "Its right version, {fix}, scores {v}; another step scores {w}, lower, but it is worth a look first.",
    UNSCORED: "Its right version, {fix}, leads to {fixed}, which I have not scored yet; another option scores {w}.",
}
CAUGHT = "Checking the steps: {why}."
CAUGHT_BELOW = "Checking the steps of the paths I finished from {state}: {why}."
GO_BACK_WORDS = (
    "Let me go back to {state} and try something else.",
    "Let me return to {state} and try a different step.",
    "I'll go back to {state} and try another step.",
    "Going back to {state}.",
    "Let me pick up again from {state}.",
)
# a state a backtrack goes to, named with the step that reached it: where the numbers alone would name another position
# the text reached later (a reader takes the latest: reader.reading.Reading.at), as a wrong result taken at face value
# and a true step reach the same numbers
REACHED_BY = "{state} (reached by {step})"
_REACHED_BY = re.compile(r"(?P<state>.+) \(reached by (?P<step>.+)\)")


def step_text(step: str) -> str:
    """A step as a state's name writes it and readers compare steps: its words, without the final period."""
    return " ".join(step.strip().rstrip(".").split())


def reached_by(name: str) -> tuple[str, str | None]:
    """A state's name (REACHED_BY, or the state alone): the state and the step named with it (step_text), if any."""
    m = _REACHED_BY.fullmatch(name)
    return (name, None) if m is None else (m["state"], step_text(m["step"]))


@dataclass(frozen=True, slots=True)
class Reason:
    """Why the trace leaves `left` for a backtrack. mistake: `subject` is the first wrong step on `left`'s path.
    exhausted: `subject` heads the exhausted branch (`left` itself when its own step failed: the verdict already
    said so). low value: `value` is what the search held for `left`, `better` the next node's value when that is
    higher. exploration: the two values, when both are known (`better` is then no higher)."""

    kind: str
    left: int
    subject: int
    value: float | None = None
    better: float | None = None
    ordered: bool = False  # exploration with no values: the next step was found before every step from `left`


def classify(
    tree: SearchTree, left: int, backtrack: Move, next_step: Move, later: Callable[[int], bool] = lambda n: False
) -> Reason:
    """The reason for a backtrack from `left` (where the trace stands) to the ancestor `backtrack.node`, followed
    by `next_step`; `backtrack.visit` is the trace position of the visit the search goes to, and the search knew
    the expansions it had made before it (SearchTree.expanded_by). A branch is said to be exhausted only when the
    text can show the steps tried in it first: none is one it writes later (`later`: the search came back to it)."""
    visit = backtrack.visit
    slip = tree.first_slip(left)
    if slip is not None and slip not in tree.path_to(backtrack.node) and tree.verified_below(left, visit):
        return Reason(MISTAKE, left, slip)
    chain = abandoned(tree, left, backtrack.node)
    head = next((node_id for node_id in reversed(chain) if shown_exhausted(tree, node_id, visit, later)), None)
    if head is not None:
        return Reason(EXHAUSTED, left, head)
    value = tree.value_at(left, visit - 1)
    better = tree.value_at(next_step.node, visit)
    if value is not None and better is not None and printed(value) < printed(better):
        return Reason(LOW_VALUE, left, left, value, better)
    if value is not None and printed(value) < LOW:
        return Reason(LOW_VALUE, left, left, value)
    if value is None or better is None:
        return Reason(EXPLORATION, left, left, ordered=found_first(tree, left, next_step.node))
    return Reason(EXPLORATION, left, left, value, better)


def fix_reason(tree: SearchTree, fixed: int, next_step: Move, visit: int) -> str | None:
    """Why the search takes up the next step rather than a found slip's corrected step (`fixed`, never taken up), as
    the tree grounds it by trace visit `visit` (FIX_WORDS): the correction scores lower as printed, the next step was
    found before it, the correction has no score yet, or the two compare as printed (the same, or the next step
    lower but untried, as exploration); None when the next step has no score either."""
    value, better = tree.value_at(fixed, visit), tree.value_at(next_step.node, visit)
    if value is not None and better is not None and printed(value) < printed(better):
        return LOWER
    if next_step.node < fixed:
        return ORDER
    if better is None:
        return None
    if value is None:
        return UNSCORED
    return TIE if printed(value) == printed(better) else AHEAD


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


def shown_exhausted(tree: SearchTree, node_id: int, visit: int, later: Callable[[int], bool]) -> bool:
    """Exhausted by trace visit `visit`, and none of the tried steps that says so is one the text writes later."""
    return exhausted(tree, node_id, visit) and not any(map(later, rested_on(tree, node_id, visit)))


def value_text(value: float) -> str:
    return f"{value:.2f}"


def printed(value: float) -> float:
    """The value as a sentence prints it: what its comparisons compare."""
    return float(value_text(value))


def found_first(tree: SearchTree, left: int, next_step: int) -> bool:
    """The next step was created before every step from the node the trace leaves (the order they were found)."""
    return all(next_step < child for child in tree.nodes[left].children)
