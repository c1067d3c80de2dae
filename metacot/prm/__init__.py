"""Process reward models score steps: the exact Countdown oracle, Monte Carlo rollouts, learned PRM backends."""

from __future__ import annotations

from metacot.backends.registry import backend_class
from metacot.policy.base import Policy
from metacot.prm.base import RewardModel, ScoreRequest
from metacot.prm.config import BACKENDS, PRMConfig
from metacot.problems.base import Domain


def make_prm(config: PRMConfig, domain: Domain, policy: Policy) -> RewardModel:
    """The configured backend, built from its own section and the domain; a backend that declares
    `needs_policy` (the rollout PRM) also gets the run's policy."""
    cls = backend_class("prm", BACKENDS, config.backend, domain)
    section = getattr(config, config.backend)
    prm: RewardModel = cls(section, domain, policy) if getattr(cls, "needs_policy", False) else cls(section, domain)
    return prm


__all__ = ["BACKENDS", "PRMConfig", "RewardModel", "ScoreRequest", "make_prm"]
