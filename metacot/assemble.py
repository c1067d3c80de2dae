"""A run's runner assembled from its config: the policy, the PRM, the search and the breaker."""

from __future__ import annotations

from metacot.config import ConfigError, SynthConfig
from metacot.policy import make_policy
from metacot.prm import RewardModel, make_prm
from metacot.problems.base import Domain
from metacot.search import SEARCHES, Runner, make_search
from metacot.search.breaker import Breaker


def build_runner(config: SynthConfig, domain: Domain, prm: RewardModel | None = None) -> Runner:
    """The config's runner with its backends built here; `prm`: one to score with instead of the config's own
    (a Ray replica's proxy to the PRM pool)."""
    strategy = config.search.strategy
    if strategy not in SEARCHES:
        raise ConfigError(f"search.strategy: unknown strategy {strategy!r}; known: {', '.join(SEARCHES)}")
    section = getattr(config.search, strategy)
    search = make_search(strategy, section)
    policy = make_policy(config.policy, domain)
    prm = prm if prm is not None else make_prm(config.prm, domain, policy)
    breaker = Breaker(config.run)
    return Runner(domain, policy, prm, search, strategy, config.seed, config.concurrency, breaker, section.budget)
