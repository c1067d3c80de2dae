"""The exact Countdown oracle PRM (is the target still reachable by the verifier's rules?), with optional seeded
noise."""

from __future__ import annotations

import math
from typing import ClassVar

from metacot.prm.base import ScoreRequest
from metacot.prm.config import OracleConfig
from metacot.problems.base import Domain
from metacot.problems.countdown import reachable
from metacot.seeding import uniform


class CountdownOraclePRM:
    """Scores 1.0 when the target is reachable from the node's state with exact arithmetic (fractions and negatives
    in between, as the verifier accepts, whatever the policy's move set), else 0.0; noise emulates imperfect PRMs."""

    domains: ClassVar[tuple[str, ...]] = ("countdown",)

    def __init__(self, config: OracleConfig | None = None, domain: Domain | None = None):
        # `domain` is part of every PRM's signature; the oracle knows its one domain's rules itself
        self.config = config or OracleConfig()

    @property
    def reads_seed(self) -> bool:
        """Only the noise reads a request's seed: without it the runner need not derive one per node."""
        return bool(self.config.flip_prob or self.config.gaussian_std)

    def score(self, requests: list[ScoreRequest]) -> list[float]:
        return [self._noisy(self.exact(r), r.seed) for r in requests]

    @staticmethod
    def exact(request: ScoreRequest) -> float:
        known = request.node.known_value
        if known is not None:
            return known
        # The state as written: after a wrong result taken at face value (a `slip`, notice = "when-found") the
        # state holds the claimed number, and the oracle judges it like any PRM that reads the text, not the truth.
        return 1.0 if reachable(request.node.state, request.problem.target) else 0.0

    def _noisy(self, value: float, seed: int) -> float:
        flip, std = self.config.flip_prob, self.config.gaussian_std
        if flip and uniform(seed) < flip:
            value = 1.0 - value
        if std:
            u1, u2 = uniform(seed, 2), uniform(seed, 3)
            value += std * math.sqrt(-2.0 * math.log1p(-u1)) * math.cos(2.0 * math.pi * u2)
            value = min(1.0, max(0.0, value))
        return value
