"""Monte Carlo rollout PRM (Math-Shepherd style): a step's value is how often completions from it verify."""

from __future__ import annotations

from typing import Any

from metacot.policy.base import ExpandRequest, Policy
from metacot.prm.base import ScoreRequest
from metacot.prm.config import RolloutConfig
from metacot.problems.base import Domain


class RolloutPRM:
    """Scores nodes by completing them with the policy (one batched call per round) and verifying the answers.

    Needs no trained model: it works on any domain with a verifier, and its scores label steps for PRM training.
    """

    def __init__(self, policy: Policy, domain: Domain, config: RolloutConfig | None = None):
        self.policy, self.domain = policy, domain
        self.config = config or RolloutConfig()
        if self.config.mode not in ("soft", "hard"):
            raise ValueError(f"prm.rollout.mode: expected 'soft' or 'hard', got {self.config.mode!r}")
        if self.config.rollouts < 1:
            raise ValueError(f"prm.rollout.rollouts: expected at least 1, got {self.config.rollouts}")

    def score(self, requests: list[ScoreRequest]) -> list[float]:
        scores: list[float | None] = [self._known(r) for r in requests]
        open_requests = [(i, r) for i, r in enumerate(requests) if scores[i] is None]
        if open_requests:
            batch = [ExpandRequest(r.problem, r.tree, r.node, self.config.rollouts, r.seed) for _, r in open_requests]
            for (i, request), completions in zip(open_requests, self.policy.rollout(batch), strict=True):
                verdicts = [self._verifies(request.problem, request.node.state, steps) for steps in completions]
                scores[i] = self._aggregate(verdicts)
        return scores

    @staticmethod
    def _known(request: ScoreRequest) -> float | None:
        """Dead and terminal nodes need no rollouts: their verdict is known."""
        node = request.node
        if node.error is not None:
            return 0.0
        if node.terminal:
            return 1.0 if node.correct else 0.0
        return None

    def _verifies(self, problem: Any, state: Any, steps: list[str]) -> bool:
        for step in steps:
            outcome = self.domain.apply_step(problem, state, step)
            if outcome.terminal:
                return bool(outcome.correct)
            state = outcome.state
        return False

    def _aggregate(self, verdicts: list[bool]) -> float:
        if self.config.mode == "hard":
            return 1.0 if any(verdicts) else 0.0
        return sum(verdicts) / len(verdicts) if verdicts else 0.0
