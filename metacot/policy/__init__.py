"""Policies propose next steps: the symbolic Countdown player and LLM backends behind one protocol."""

from __future__ import annotations

from metacot.backends.registry import backend_class
from metacot.policy.base import ExpandRequest, Policy, Proposal, Rollouts
from metacot.policy.config import BACKENDS, PolicyConfig
from metacot.problems.base import Domain


def make_policy(config: PolicyConfig, domain: Domain) -> Policy:
    """The configured backend, built from its own section and the domain."""
    policy: Policy = backend_class("policy", BACKENDS, config.backend, domain)(getattr(config, config.backend), domain)
    return policy


__all__ = ["BACKENDS", "ExpandRequest", "Policy", "PolicyConfig", "Proposal", "Rollouts", "make_policy"]
