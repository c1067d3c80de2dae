"""vLLM's offline engine: the settings every vLLM backend shares, and the one place a `vllm.LLM` is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metacot.backends.models import check_model_folder
from metacot.checks import at_least, optional_at_least
from metacot.flags import flag


@dataclass
class VLLMEngineConfig:
    """The engine settings of the vLLM policy and the vLLM PRM."""

    model: str = flag(
        "the model: a local folder, or the served name (openai, http)", "", name="--{section}-model", metavar="DIR"
    )  # never fetched from a hub
    dtype: str = field(default="auto", metadata={"help": "the engine's dtype (\"float32\" on CPUs)"})
    max_model_len: int | None = field(
        default=None, metadata={"help": "the engine's context length (default: the model's own)"}
    )
    gpu_memory_utilization: float = field(
        default=0.9, metadata={"help": "the share of GPU memory the engine may take, in (0, 1]"}
    )
    enforce_eager: bool = field(
        default=False,
        metadata={"help": "no CUDA graphs or compilation (true on CPUs, where they make start-up minutes long)"},
    )
    seed: int = field(
        default=0, metadata={"help": "the engine's seed; each request is still sampled from its own seed"}
    )
    engine_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "further keyword arguments passed to vllm.LLM as they are"}
    )

    def __post_init__(self) -> None:
        optional_at_least("max_model_len", self.max_model_len, 1)
        if type(self.gpu_memory_utilization) not in (int, float) or not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization: must be in (0, 1], got {self.gpu_memory_utilization!r}")
        at_least("seed", self.seed, 0)


def make_llm(config: VLLMEngineConfig, section: str, **backend_args: Any) -> Any:
    """A `vllm.LLM` for the config's local model folder, with the backend's own arguments and engine_kwargs.

    Keep it alive as long as any vLLM engine of the process is used: deleting an engine tears down state that
    the others share."""
    check_model_folder(config.model, section)
    taken = sorted(config.engine_kwargs.keys() & (backend_args.keys() | set(_SETTINGS)))
    if taken:
        raise ValueError(f"{section}.engine_kwargs: {', '.join(taken)} set by metacot; use the section's settings")
    from vllm import LLM

    settings: dict[str, Any] = {name: getattr(config, name) for name in _SETTINGS}
    return LLM(**settings, **backend_args, **config.engine_kwargs)


_SETTINGS = ("model", "dtype", "max_model_len", "gpu_memory_utilization", "enforce_eager", "seed")
