"""The four cognitive behaviours of the cognitive-behaviours study (arXiv 2503.01307), defined once for every tagger."""

from __future__ import annotations

from dataclasses import dataclass

VERIFICATION, BACKTRACKING, SUBGOAL_SETTING, BACKWARD_CHAINING = (
    "verification",
    "backtracking",
    "subgoal_setting",
    "backward_chaining",
)
BEHAVIORS = (VERIFICATION, BACKTRACKING, SUBGOAL_SETTING, BACKWARD_CHAINING)


@dataclass(frozen=True)
class Behavior:
    """A behaviour as the study's judge defines it, with short examples of text that shows it."""

    name: str
    definition: str
    examples: tuple[str, ...]


DEFINITIONS = {
    VERIFICATION: Behavior(
        VERIFICATION,
        "The reasoning explicitly checks an intermediate or final result against the target or a condition.",
        ("14 is not 24, so this does not work.", "Let me check: (8 - 2) * 4 = 24. Correct."),
    ),
    BACKTRACKING: Behavior(
        BACKTRACKING,
        "The reasoning realises a path will not work and explicitly goes back to try a different approach, one that "
        "does not build on the previous result.",
        ("That leaves 7 and 9, which cannot make 50. Let me go back and try 12 * 4 instead.",),
    ),
    SUBGOAL_SETTING: Behavior(
        SUBGOAL_SETTING,
        "The reasoning states an intermediate goal on the way to the answer.",
        ("First I will try to get to 12, then double it.", "If I can make 6 from the rest, 6 * 4 gives the target."),
    ),
    BACKWARD_CHAINING: Behavior(
        BACKWARD_CHAINING,
        "The reasoning works backward from the target to what it needs.",
        ("24 / 2 = 12, so I need 12 from 7, 3 and 5.", "To reach 47 I can do 61 - 14, so I need 14 from the rest."),
    ),
}
