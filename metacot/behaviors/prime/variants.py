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
from metacot.problems.base import Domain

# How a variant's think block is made: wrong attempts then the answer ("attempts"), the solution path alone,
# nothing at all, or dots as long as the all_strategies trace of the same tree.
ATTEMPTS, SOLUTION, EMPTY, DOTS = "attempts", "solution", "empty", "dots"
# Habits that need a target's arithmetic to state (a target to divide, numbers to combine): Countdown's.
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

    def for_domain(self, domain: Domain) -> Variant:
        """The variant as a domain can write it: no_positive keeps the habits the domain has words for; a variant
        that names a Countdown-only habit where there are no numbers and target is an error."""
        missing = self.shows - writable(domain)
        if not missing:
            return self
        if self.wrong:
            return Variant(self.name, self.shows - missing, self.think, self.wrong)
        habits = " and ".join(sorted(missing))
        raise ValueError(f"--variant {self.name}: {habits} is Countdown-only; a {domain.name} run cannot write it")


def writable(domain: Domain) -> frozenset[str]:
    """The habits a domain's priming traces can show: those that need the target's arithmetic only where there are
    numbers and a target (Domain.numbers_to_target)."""
    return ALL_HABITS if domain.numbers_to_target else ALL_HABITS - COUNTDOWN_ONLY


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
