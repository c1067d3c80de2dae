"""Compute budgets shared by every search, in the units of the tree's Compute account.

A search asks its budget before each round of requests how much it may still ask for:

    allowance = budget.allowance(tree.compute)      # what is left now
    n = allowance.expand(config.expand_width)       # children one Expand may ask for, reserved; 0: stop
    ...                                             # more expand() calls plan more Expands of the same round
    k = allowance.score(len(nodes))                 # nodes one Score may include (when not reserved above)

`budget.room(tree.compute, want)` is the one-expansion shortcut. Reserving assumes every Expand returns all
the children it asked for, so a search that follows its allowance never spends past any limit.
A ComputeTarget is what a benchmark sizes a strategy's config to (`StrategyConfig.matched`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from metacot.flags import flag
from metacot.tree import Compute

UNITS = ("nodes", "policy_calls", "generated_tokens", "prm_calls", "scored_nodes")
# every limit; `rollouts` binds only a PRM that rolls out, so benchmarks do not size strategies to it
LIMITS = (*UNITS, "rollouts")
_NO_LIMIT = sys.maxsize
# Every strategy's default limit on the rollout PRM's completions per problem: as many as the steps A*'s 300
# expansions (MCTS's 300 simulations) of 8 children may propose, so at the policies' defaults (32 tokens a step,
# 256 a rollout) rollouts generate at most 8x the policy's tokens; unlimited, 8 completions of up to 256 tokens for
# every scored child take most of an LLM run's time. Countdown's default runs stay below it.
DEFAULT_ROLLOUTS = 2400


@dataclass
class Budget:
    """Limits on what one search may spend (None: no limit), each a field of Compute.

    nodes: nodes in the tree, the root included, less the domain's corrections of slips (spent); policy_calls:
    expansions (one per Expand, whatever its n);
    generated_tokens: the proposals' tokens; prm_calls: Score requests; scored_nodes: the nodes they scored;
    rollouts: completions the rollout PRM generates (ones reused from an ancestor's rollouts are free), DEFAULT_ROLLOUTS
    unless set (None: no limit); a PRM that does not roll out never spends it. A search plans no scored round once
    none is left, and the rollout PRM generates at most what is left (the runner tells it the limit), so a node
    scored when the limit is reached has fewer rollouts, or none. A completion's tokens are known only once
    generated: rollouts bound them at rollouts * the policy's rollout_max_tokens.
    A token limit needs max_step_tokens, the most tokens one proposed step can take (the policy's per-step
    token limit), because the tokens of a step are only known after it was generated.
    """

    nodes: int | None = flag(
        "node budget per problem: nodes in the tree, the root included, not the domain's corrections of slips",
        None,
        name="--max-nodes",
    )
    policy_calls: int | None = field(
        default=None, metadata={"help": "expansions per problem (one per Expand, whatever its n)"}
    )
    generated_tokens: int | None = field(
        default=None, metadata={"help": "the proposals' tokens per problem; needs max_step_tokens"}
    )
    prm_calls: int | None = field(default=None, metadata={"help": "Score requests per problem"})
    scored_nodes: int | None = field(default=None, metadata={"help": "nodes scored per problem"})
    rollouts: int | None = field(
        default=DEFAULT_ROLLOUTS,
        metadata={"help": "completions the rollout PRM generates per problem (reused ones are free; none: no limit)"},
    )
    max_step_tokens: int | None = field(
        default=None, metadata={"help": "the most tokens one proposed step can take (what a token budget plans with)"}
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> Budget:
        """Self, after checking every limit; a ValueError message starts with the bad field's name."""
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and (type(value) is not int or value < (1 if f.name == "max_step_tokens" else 0)):
                least = "a positive" if f.name == "max_step_tokens" else "a non-negative"
                raise ValueError(f"{f.name}: must be {least} integer or None, got {value!r}")
        if self.generated_tokens is not None and self.max_step_tokens is None:
            raise ValueError("generated_tokens: needs max_step_tokens, the most tokens one proposed step can take")
        return self

    @classmethod
    def of(cls, unit: str, limit: int, **extra: Any) -> Budget:
        """A budget of `limit` in one unit, no other limit (nor the default rollouts), e.g. Budget.of("nodes", 100)."""
        if unit not in UNITS:
            raise ValueError(f"unknown budget unit {unit!r}: expected one of {', '.join(UNITS)}")
        return cls(**{"rollouts": None, unit: limit, **extra})

    def limits(self) -> dict[str, int]:
        """The units that have a limit, and the limit."""
        return {unit: getattr(self, unit) for unit in LIMITS if getattr(self, unit) is not None}

    def allowance(self, compute: Compute) -> Allowance:
        """What is left of the budget after `compute`, to plan the next round of requests from (asked before every
        expansion: no function call per unit)."""
        left = {
            unit: _NO_LIMIT if (limit := getattr(self, unit)) is None else max(0, limit - spent(compute, unit))
            for unit in LIMITS
        }
        return Allowance(**left, max_step_tokens=self.max_step_tokens or 1)

    def room(self, compute: Compute, want: int, scored: bool = True) -> int:
        """How many children (at most `want`) one Expand may ask for now; 0: the search must stop expanding.

        scored: the children will be scored by one Score request afterwards, which the budget must also cover.
        """
        return self.allowance(compute).expand(want, scored)

    def share(self, compute: Compute) -> float | None:
        """The largest share of any limit that `compute` has spent (1.0: the search stops); None without limits.
        The rollouts limit counts once the search has rolled out: every strategy has one by default, and under a PRM
        that never rolls out (the oracle) it would show a search without other limits at 0% throughout."""
        limits = self.limits()
        if not compute.rollouts:
            limits.pop("rollouts", None)
        shares = [spent(compute, unit) / limit if limit else 1.0 for unit, limit in limits.items()]
        return max(shares) if shares else None

    def within(self, compute: Compute) -> bool:
        """Whether `compute` stays within every limit."""
        return all(spent(compute, unit) <= limit for unit, limit in self.limits().items())


def spent(compute: Compute, unit: str) -> int:
    """What a search spent in a unit of its budget: nodes are the ones searched for (the root and the policy's
    steps), not the corrections of slips the domain made (Compute.repairs: no model made them)."""
    used = getattr(compute, unit)
    return used - compute.repairs if unit == "nodes" else used


@dataclass(slots=True)
class Allowance:
    """What is left of a budget at one moment; expand() and score() reserve from it."""

    nodes: int
    policy_calls: int
    generated_tokens: int
    prm_calls: int
    scored_nodes: int
    rollouts: int  # not reserved: the rollout PRM stops at the limit itself
    max_step_tokens: int

    def expand(self, want: int, scored: bool = True) -> int:
        """Children one more Expand may ask for (at most `want`), reserved; 0 when nothing is left.

        scored: the children will be scored; all the Expands of one round planned with scored=True share one
        Score request (its PRM call must be left; it is not reserved, so plan that Score in the same round).
        """
        if want <= 0 or self.policy_calls < 1 or (scored and (self.prm_calls < 1 or self.rollouts < 1)):
            return 0
        n = min(want, self.nodes, self.generated_tokens // self.max_step_tokens)
        if scored:
            n = min(n, self.scored_nodes)
        if n <= 0:
            return 0
        self.policy_calls -= 1
        self.nodes -= n
        self.generated_tokens -= n * self.max_step_tokens
        if scored:
            self.scored_nodes -= n
        return n

    def score(self, count: int) -> int:
        """How many of `count` nodes one more Score request may include (0: none), reserved."""
        if count <= 0 or self.prm_calls < 1 or self.rollouts < 1:
            return 0
        k = min(count, self.scored_nodes)
        if k > 0:
            self.prm_calls -= 1
            self.scored_nodes -= k
        return k


@dataclass(frozen=True)
class ComputeTarget:
    """What a strategy is sized to when strategies are compared at equal compute: a limit in one unit, the shape
    of a full run to a solution, and the settings that were given explicitly (never changed by the sizing)."""

    unit: str
    limit: int
    depth: int  # steps in a solution
    step_tokens: int  # the most tokens one proposed step takes (the budget's max_step_tokens)
    fit: bool = True  # size a strategy's breadth (best-of-N's N, beam's width) to what a full run can afford
    fixed: frozenset[str] = frozenset()

    def budget(self) -> Budget:
        return Budget.of(self.unit, self.limit, max_step_tokens=self.step_tokens)

    def cost(self, created: int, policy_calls: int, prm_calls: int, scored_nodes: int) -> int:
        """A full run's cost in the target's unit, from the nodes it creates (the root aside) and its calls."""
        compute = Compute(
            nodes=1 + created,
            policy_calls=policy_calls,
            generated_tokens=self.step_tokens * created,
            prm_calls=prm_calls,
            scored_nodes=scored_nodes,
        )
        return getattr(compute, self.unit)

    def largest(self, cost: Callable[[int], int], cap: int = 64) -> int | None:
        """The largest size in 1..cap whose full run costs at most the limit (1 if none does); None when the cost
        does not grow with the size (the budget does not bound it: keep the default)."""
        if cost(2) == cost(1):
            return None
        best = 1
        for size in range(1, cap + 1):
            if cost(size) <= self.limit:
                best = size
        return best
