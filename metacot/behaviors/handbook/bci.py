"""Behaviour-conditioned inference: retrieve each problem's behaviours and turn them into its search's conditioning."""

from __future__ import annotations

from typing import Any

from metacot.backends.request import Conditioning
from metacot.behaviors.handbook.entries import Entry, builtin_handbook, load_handbook
from metacot.behaviors.handbook.moves import move_order
from metacot.behaviors.handbook.retrieval import retrieve
from metacot.conditioning import BehaviorsConfig
from metacot.policy.cite import CITATION
from metacot.problems.base import Domain

HEAD = (
    "Behaviours that may help (use them where they apply):\n{lines}\n"
    "Cite the behaviour a step uses by opening the step with its name in brackets, for example {example} ...\n\n"
)


def prompt_head(entries: list[Entry]) -> str:
    """What goes before the question in an LLM policy's prompt: part of the fixed head, so prefix caches hit. It asks
    for citations in the form the policy reads off its steps (metacot.policy.cite)."""
    if not entries:
        return ""
    example = CITATION.format(name=entries[0].name)
    return HEAD.format(lines="\n".join(e.line for e in entries), example=example)


def problem_features(domain: Domain, problems: list[Any]) -> list[dict[str, str]]:
    """Each problem's features, tag -> a sentence (the domain's `features`; none for a domain without them)."""
    features = getattr(domain, "features", None)
    return [features(p) if features is not None else {} for p in problems]


def condition(domain: Domain, problems: list[Any], config: BehaviorsConfig) -> dict[str, Conditioning]:
    """Each problem's conditioning (problem id -> it), from the behaviours retrieved for it: their lines open an LLM
    policy's prompt, the symbolic policy orders its moves by them, and the tree records their names
    (metacot.conditioning.Conditioner)."""
    path = builtin_handbook(domain.name) if config.handbook == "builtin" else config.handbook
    entries = load_handbook(str(path))
    dicts = [domain.problem_to_dict(p) for p in problems]
    features = problem_features(domain, problems)
    queries = [" ".join([domain.prompt(p), *own.values()]) for p, own in zip(problems, features, strict=True)]
    found = retrieve(entries, dicts, queries, domain.name, config, features)
    return {
        p.id: Conditioning(
            tuple(e.name for e in row), prompt_head(row), move_order([e.name for e in row])
        )
        for p, row in zip(problems, found, strict=True)
    }
