"""Behaviour-conditioned inference: retrieve each problem's behaviours and hand them to the policy."""

from __future__ import annotations

from typing import Any

from metacot.behaviors.handbook import builtin_handbook, load_handbook
from metacot.behaviors.retrieval import BehaviorsConfig, retrieve
from metacot.problems.base import Domain

HEAD = "Behaviours that may help (use them where they apply, and cite them by name):\n{lines}\n\n"


def prompt_head(lines: list[str]) -> str:
    """What goes before the question in an LLM policy's prompt: part of the fixed head, so prefix caches hit."""
    return HEAD.format(lines="\n".join(lines)) if lines else ""


def condition(policy: Any, domain: Domain, problems: list[Any], config: BehaviorsConfig) -> dict[str, list[str]]:
    """Each problem's retrieved behaviour names (problem id -> names), handed to the policy: an LLM policy's
    prompt builder puts their lines in the prompt head; the symbolic policy orders its moves by them."""
    path = builtin_handbook(domain.name) if config.handbook == "builtin" else config.handbook
    entries = load_handbook(str(path))
    dicts = [domain.problem_to_dict(p) for p in problems]
    queries = [domain.prompt(p) for p in problems]
    found = retrieve(entries, dicts, queries, domain.name, config)
    names = {p.id: [e.name for e in row] for p, row in zip(problems, found, strict=True)}
    prompts = getattr(policy, "prompts", None)
    if prompts is not None:
        prompts.behaviors = {p.id: [e.line for e in row] for p, row in zip(problems, found, strict=True)}
    elif hasattr(policy, "behaviors"):
        policy.behaviors = names
    else:
        raise ValueError(f"behaviors: the policy {type(policy).__name__} cannot be conditioned on behaviours")
    return names
