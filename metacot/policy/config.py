"""The settings of every policy backend, importable without any backend's libraries."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SymbolicPolicyConfig:
    sample: bool = True  # a random subset of the legal moves; False: the first n in enumeration order
    mistake_rate: float = 0.0  # probability that a proposal is plausible but wrong (a slip in arithmetic)


@dataclass
class TransformersPolicyConfig:
    model: str = ""  # a local model folder (config.json, weights, tokenizer); never fetched from a hub
    device: str = "cpu"
    dtype: str = "float32"
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 32  # per step: a step cut off here has finish_reason "length" and becomes a dead node
    step_delimiter: str | None = None  # None: the domain's ("\n" for Countdown, "\n\n" for math)
    batch_size: int = 64  # most sequences (prompt x sample) in one generate call
    rollout_max_tokens: int = 256  # a rollout (for the rollout PRM) runs to EOS or this many tokens


@dataclass
class PolicyConfig:
    """Which backend proposes steps, and each backend's own section (only the chosen one is used)."""

    backend: str = "symbolic"  # "symbolic" (Countdown, no model), "transformers", "vllm", "openai"
    symbolic: SymbolicPolicyConfig = field(default_factory=lambda: SymbolicPolicyConfig(mistake_rate=0.1))
    transformers: TransformersPolicyConfig = field(default_factory=TransformersPolicyConfig)
