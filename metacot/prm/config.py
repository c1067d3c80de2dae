"""The settings of every PRM backend, importable without any backend's libraries."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OracleConfig:
    flip_prob: float = 0.0  # probability of reporting the opposite verdict
    gaussian_std: float = 0.0  # standard deviation of Gaussian noise added to the verdict, clipped to [0, 1]


@dataclass
class RolloutConfig:
    rollouts: int = 8  # completions sampled per scored node
    mode: str = "soft"  # "soft": fraction of completions that verify; "hard": 1 if any does


@dataclass
class TransformersPRMConfig:
    model: str = ""  # a local model folder; never fetched from a hub
    # "step-tag": a causal LM, P(good) / (P(good) + P(bad)) of the next token at the tag after each step;
    # "separator-head": a 2-label token-classification model, the softmax's class 1 at the separator after each step
    style: str = "step-tag"
    step_tag: str = "ки"
    good_token: str = "+"
    bad_token: str = "-"
    separator: str = "<extra_0>"
    system_prompt: str | None = None  # separator-head: a system message before the question (the chat template's)
    aggregate: str = "last"  # over the path's step scores: "last" | "min" | "prod" | "mean"
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 16  # most paths in one forward pass


@dataclass
class PRMConfig:
    """Which backend scores steps, and each backend's own section (only the chosen one is used)."""

    backend: str = "oracle"  # "oracle" (Countdown, exact), "rollout" (any domain), "transformers", "vllm", "http"
    oracle: OracleConfig = field(default_factory=lambda: OracleConfig(flip_prob=0.1))
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    transformers: TransformersPRMConfig = field(default_factory=TransformersPRMConfig)
