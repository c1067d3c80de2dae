"""The RewardModel protocol: a batch of (problem, path) in, one score in [0, 1] per path's last step out."""

from __future__ import annotations

from typing import Protocol

from metacot.backends.request import NodeRequest

ScoreRequest = NodeRequest  # score the last step of the path from the root to the node


class RewardModel(Protocol):
    def score(self, requests: list[ScoreRequest]) -> list[float]: ...
