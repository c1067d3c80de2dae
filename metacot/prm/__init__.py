"""Process reward models score steps: the exact Countdown oracle, Monte Carlo rollouts, learned PRM backends."""

from __future__ import annotations

from metacot.policy import load_backend
from metacot.policy.base import Policy
from metacot.prm.base import RewardModel, ScoreRequest
from metacot.prm.config import PRMConfig
from metacot.problems.base import Domain

# backend -> "module:class"; imported only when chosen, so a light install never loads torch or vLLM
BACKENDS = {
    "oracle": "metacot.prm.oracle:CountdownOraclePRM",
    "rollout": "metacot.prm.rollout:RolloutPRM",
    "transformers": "metacot.prm.transformers:TransformersPRM",
    "vllm": "metacot.prm.vllm:VLLMPRM",
    "http": "metacot.prm.http:HTTPPRM",
}


def make_prm(config: PRMConfig, domain: Domain, policy: Policy) -> RewardModel:
    """The configured PRM; the rollout PRM completes steps with the run's policy."""
    backend = config.backend
    if backend not in BACKENDS:
        raise ValueError(f"prm.backend: unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    cls = load_backend(BACKENDS[backend])
    if backend == "oracle":
        if domain.name != "countdown":
            raise ValueError(f"prm.backend: the oracle PRM knows Countdown only, not {domain.name}; try 'rollout'")
        return cls(config.oracle)
    if backend == "rollout":
        return cls(policy, domain, config.rollout)
    return cls(getattr(config, backend), domain)


__all__ = ["BACKENDS", "PRMConfig", "RewardModel", "ScoreRequest", "make_prm"]
