"""Backends by name: each family's registry maps a name to "module:Class", imported only when chosen."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

from metacot.problems.base import Domain


def load_backend(target: str) -> Any:
    """The class named by "module:Class"."""
    module, name = target.split(":")
    return getattr(import_module(module), name)


def backend_class(family: str, registry: Mapping[str, str], name: str, domain: Domain | None) -> Any:
    """The registered class of `family`.backend `name`, if it plays `domain` (None: it is built to generate text,
    for no domain).

    A backend that plays only some domains says which in its class attribute `domains`."""
    if name not in registry:
        raise ValueError(f"{family}.backend: unknown backend {name!r}; known: {', '.join(registry)}")
    cls = load_backend(registry[name])
    domains = getattr(cls, "domains", None)
    if domains is not None and domain is not None and domain.name not in domains:
        raise ValueError(f"{family}.backend: {name!r} plays {', '.join(domains)} only, not {domain.name}")
    return cls
