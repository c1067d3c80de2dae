"""What LLM policies and PRMs share: requests, model and tokenizer loading, the HTTP client, the vLLM engine,
the backend registry, and `generate(prompts, sampling) -> texts` for judges and handbooks."""

from __future__ import annotations

from metacot.backends.generate import Sampling, TextGenerator
from metacot.backends.request import NodeRequest

__all__ = ["NodeRequest", "Sampling", "TextGenerator"]
