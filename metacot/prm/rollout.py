"""Monte Carlo rollout PRM (Math-Shepherd style): a step's value is how often completions from it verify."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from metacot.policy.base import Policy, Rollouts
from metacot.prm.base import ScoreRequest
from metacot.prm.config import RolloutConfig
from metacot.problems.base import Domain
from metacot.problems.verdicts import keeping


class RolloutPRM:
    """Scores nodes by completing them with the policy (one batched call per round) and verifying the answers.

    Needs no trained model: it works on any domain with a verifier, and its scores label steps for PRM training.
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
        """The share (soft) or existence (hard) of verified completions from each node, in one policy call; the
        counts behind each estimate go on the node (successes, rollouts), for searches that weigh the evidence."""
        if not requests:
            return []
        completions = self.policy.rollout([replace(r, n=self.config.rollouts) for r in requests])
        estimates = []
        for r, per_request in zip(requests, completions, strict=True):
            with keeping(r.tree.verdicts):  # the answers' checks, kept in the tree: each is decided once
                verdicts = [self._verifies(r.problem, r.node.state, steps) for steps in per_request]
            r.node.successes, r.node.rollouts = sum(verdicts), len(verdicts)
            estimates.append(self._aggregate(verdicts))
        return estimates

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
