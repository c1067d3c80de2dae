"""Monte Carlo rollout PRM (Math-Shepherd style): a step's value is how often completions from it verify."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from metacot.policy.base import Policy, Rollouts
from metacot.prm.base import ScoreRequest
from metacot.prm.config import RolloutConfig
from metacot.prm.interval import decisive
from metacot.problems.base import Domain
from metacot.problems.verdicts import keeping
from metacot.seeding import mix


@dataclass
class _Estimate:
    """One node's completions so far: each as its steps after the node, with its verdict."""

    request: ScoreRequest
    want: int  # completions the node should have
    completions: list[list[str]] = field(default_factory=list)
    verdicts: list[bool] = field(default_factory=list)
    waves: int = 0


class RolloutPRM:
    """Scores nodes by completing them with the policy (one batched call per round and wave) and verifying the
    answers.

    Needs no trained model: it works on any domain with a verifier, and its scores label steps for PRM training.
    The counts behind each score go on the node (successes, rollouts; a Wilson interval from
    metacot.prm.interval says how sure they are). With `reuse`, a completion from a node whose first step is a
    child's step counts for that child too (matched by step text, as the tree merges identical sibling steps), and
    its rest is verified again from the child's own state; the child generates only the rest of its `rollouts`.
    Generation is counted in the tree's Compute (rollout_calls, rollouts, rollout_tokens; reused_rollouts), and
    never goes past the request's rollout_limit.
    """

    needs_policy: ClassVar[bool] = True

    def __init__(self, config: RolloutConfig, domain: Domain, policy: Policy):
        if not isinstance(policy, Rollouts):
            raise ValueError(
                f"prm.backend: the rollout PRM completes paths with the policy, "
                f"and {type(policy).__name__} cannot roll out (it has no rollout method)"
            )
        self.config, self.domain = config, domain
        self.policy: Rollouts = policy

    def score(self, requests: list[ScoreRequest]) -> list[float]:
        """Dead and terminal nodes need no rollouts: their value is known."""
        known = [r.node.known_value for r in requests]
        estimates = iter(self._estimates([r for r, value in zip(requests, known, strict=True) if value is None]))
        return [next(estimates) if value is None else value for value in known]

    def _estimates(self, requests: list[ScoreRequest]) -> list[float]:
        """The share (soft) or existence (hard) of verified completions from each node, reused ones first, then
        generated in waves (one wave without early stopping), each wave one policy call for every node still
        short; the counts go on the node (successes, rollouts), for searches that weigh the evidence."""
        pending = [self._start(r) for r in requests]
        while True:
            planned: dict[int, int] = {}  # completions this wave asks for, by tree: within its limit together
            asks = [(e, n) for e in pending if (n := self._wanted(e, planned)) > 0]
            if not asks:
                break
            completions = self.policy.rollout([replace(e.request, n=n, seed=self._seed(e)) for e, n in asks])
            for (e, n), rollouts in zip(asks, completions, strict=True):
                compute = e.request.tree.compute
                compute.rollout_calls += 1
                compute.rollouts += n
                compute.rollout_tokens += sum(getattr(r, "tokens", 0) for r in rollouts)
                e.waves += 1
                for steps in rollouts[:n]:
                    self._add(e, list(steps))
        for e in pending:
            node = e.request.node
            node.successes, node.rollouts = sum(e.verdicts), len(e.verdicts)
            if self.config.reuse:
                self._pass_on(e)
        return [self._aggregate(e.verdicts) for e in pending]

    def _start(self, request: ScoreRequest) -> _Estimate:
        """The node's estimate with the completions its ancestors' rollouts passed through it, when reused."""
        estimate = _Estimate(request, self.config.rollouts)
        node, tree = request.node, request.tree
        if self.config.reuse:
            taken = tree.passing.get(node.parent, {}).pop(node.step, [])[: estimate.want]
            tree.compute.reused_rollouts += len(taken)
            for steps in taken:
                self._add(estimate, steps)
        return estimate

    def _wanted(self, e: _Estimate, planned: dict[int, int]) -> int:
        """Completions to generate for the node in its next wave: what it still lacks (a wave at most when stopping
        early, none once its interval is decisive), within what is left of its tree's rollout limit after the
        completions already `planned` for the wave (updated)."""
        c = self.config
        short = e.want - len(e.verdicts)
        if c.early_stop:
            if decisive(sum(e.verdicts), len(e.verdicts), c.decisive_below, c.decisive_above, c.z):
                return 0
            short = min(short, c.wave)
        elif e.waves:
            return 0
        tree = e.request.tree
        limit = e.request.rollout_limit
        if limit is not None:
            short = min(short, limit - tree.compute.rollouts - planned.get(id(tree), 0))
        short = max(0, short)
        planned[id(tree)] = planned.get(id(tree), 0) + short
        return short

    def _seed(self, e: _Estimate) -> int:
        """The request's seed for its first wave (as without waves), mixed with the wave's number after it."""
        return e.request.seed if e.waves == 0 else mix(e.request.seed, e.waves)

    def _add(self, e: _Estimate, steps: list[str]) -> None:
        e.completions.append(steps)
        with keeping(e.request.tree.verdicts):  # the answers' checks, kept in the tree: each is decided once
            e.verdicts.append(self._verifies(e.request.problem, e.request.node.state, steps))

    def _pass_on(self, e: _Estimate) -> None:
        """Keep each completion's rest after its first step, for the child that has (or will have) that step."""
        node, tree = e.request.node, e.request.tree
        below = tree.passing.setdefault(node.id, {})
        for steps in e.completions:
            if steps:
                below.setdefault(steps[0], []).append(steps[1:])

    def _verifies(self, problem: Any, state: Any, steps: list[str]) -> bool:
        for step in steps:
            outcome = self.domain.apply_step(problem, state, step)
            if outcome.slip is not None:
                return False  # verifying the completion recomputes its steps: a wrong result taken at face value
            if outcome.terminal:
                return bool(outcome.correct)
            state = outcome.state
        return False

    def _aggregate(self, verdicts: list[bool]) -> float:
        if self.config.mode == "hard":
            return 1.0 if any(verdicts) else 0.0
        return sum(verdicts) / len(verdicts) if verdicts else 0.0
