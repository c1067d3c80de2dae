"""Command-line flags declared on config fields: a field names its flag and help, and the CLI is built from them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, get_type_hints


@dataclass(frozen=True)
class Flag:
    """How a config field appears on the command line. Fields that share a flag name are set together by it
    (e.g. --expand-width sets the expand_width of every strategy that has one)."""

    help: str
    name: str | None = None  # default: --field-name
    metavar: str | None = None
    choices: Callable[[], Iterable[str]] | None = None  # called when the parser is built (registries fill late)


def flag(
    help: str,
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    name: str | None = None,
    metavar: str | None = None,
    choices: Callable[[], Iterable[str]] | None = None,
) -> Any:
    """A dataclass field with a command-line flag: `num_numbers: int = flag("numbers per problem", 4)`."""
    spec = Flag(help, name, metavar, choices)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"flag": spec})


def flagged_fields(cls: type, prefix: str = "") -> Iterator[tuple[str, Flag, Any]]:
    """(dotted config key, its Flag, its type) for every field with a flag, sections walked depth first."""
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, hint = f"{prefix}{f.name}", hints[f.name]
        if dataclasses.is_dataclass(hint):
            yield from flagged_fields(hint, key + ".")  # type: ignore[arg-type]
        elif "flag" in f.metadata:
            yield key, f.metadata["flag"], hint


def flag_name(key: str, spec: Flag) -> str:
    return spec.name or "--" + key.rsplit(".", 1)[-1].replace("_", "-")
