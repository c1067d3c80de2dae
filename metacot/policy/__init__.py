"""Policies propose next steps: the symbolic Countdown player and LLM backends behind one protocol."""

from __future__ import annotations

from importlib import import_module

from metacot.policy.base import ExpandRequest, Policy, Proposal
from metacot.policy.config import PolicyConfig
from metacot.problems.base import Domain

# backend -> "module:class"; imported only when chosen, so a light install never loads torch or vLLM
BACKENDS = {
    "symbolic": "metacot.policy.symbolic:SymbolicCountdownPolicy",
    "transformers": "metacot.policy.transformers:TransformersPolicy",
    "vllm": "metacot.policy.vllm:VLLMPolicy",
    "openai": "metacot.policy.openai:OpenAIPolicy",
}


def make_policy(config: PolicyConfig, domain: Domain) -> Policy:
    backend = config.backend
    if backend not in BACKENDS:
        raise ValueError(f"policy.backend: unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "symbolic":
        if domain.name != "countdown":
            raise ValueError(f"policy.backend: the symbolic policy plays Countdown only, not {domain.name}")
        return load_backend(BACKENDS[backend])(config.symbolic)
    return load_backend(BACKENDS[backend])(getattr(config, backend), domain)


def load_backend(target: str) -> type:
    module, name = target.split(":")
    return getattr(import_module(module), name)


__all__ = ["BACKENDS", "ExpandRequest", "Policy", "PolicyConfig", "Proposal", "make_policy"]
