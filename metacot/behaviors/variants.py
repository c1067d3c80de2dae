"""The priming conditions of the cognitive-behaviours study: what each variant's records show and how they end."""

from __future__ import annotations

from dataclasses import dataclass

from metacot.behaviors.definitions import (
    BACKTRACKING,
    BACKWARD_CHAINING,
    BEHAVIORS,
    SUBGOAL_SETTING,
    VERIFICATION,
)

# How a variant's think block is made: wrong attempts then the answer ("attempts"), the solution path alone,
# nothing at all, or dots as long as the all_strategies trace of the same tree.
ATTEMPTS, SOLUTION, EMPTY, DOTS = "attempts", "solution", "empty", "dots"
# Habits that need Countdown arithmetic to state (a target to divide, numbers to combine).
COUNTDOWN_ONLY = frozenset({SUBGOAL_SETTING, BACKWARD_CHAINING})


@dataclass(frozen=True)
class Variant:
    """A priming condition: the habits every record shows (and no others), and the shape of its think block.

    wrong: the records end at a wrong final answer (the study's no-positive condition)."""

    name: str
    shows: frozenset[str]
    think: str = ATTEMPTS
    wrong: bool = False

    def excludes(self) -> frozenset[str]:
        return frozenset(BEHAVIORS) - self.shows

    def for_domain(self, domain_name: str) -> Variant:
        """The variant as a domain can write it: no_positive keeps the habits the domain has words for; a variant
        that names a Countdown-only habit outside Countdown is an error."""
        if domain_name == "countdown" or not self.shows & COUNTDOWN_ONLY:
            return self
        if self.wrong:
            return Variant(self.name, self.shows - COUNTDOWN_ONLY, self.think, self.wrong)
        habits = " and ".join(sorted(self.shows & COUNTDOWN_ONLY))
        raise ValueError(f"--variant {self.name}: {habits} is Countdown-only; a {domain_name} run cannot write it")


ALL_HABITS = frozenset(BEHAVIORS)
VARIANTS = {
    v.name: v
    for v in (
        Variant("all_strategies", ALL_HABITS),
        Variant("only_backtracking", frozenset({BACKTRACKING})),
        Variant("backtracking_verification", frozenset({BACKTRACKING, VERIFICATION})),
        Variant("backtracking_subgoal", frozenset({BACKTRACKING, SUBGOAL_SETTING})),
        Variant("backtracking_backward", frozenset({BACKTRACKING, BACKWARD_CHAINING})),
        Variant("negative_control", frozenset(), SOLUTION),
        Variant("empty_cot", frozenset(), EMPTY),
        Variant("dots_cot", frozenset(), DOTS),
        Variant("no_positive", ALL_HABITS, wrong=True),
    )
}


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"--variant: unknown variant {name!r}; known: {', '.join(VARIANTS)}, all")
    return VARIANTS[name]
