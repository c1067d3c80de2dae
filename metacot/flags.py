"""Command-line flags declared on config fields: a field names its flag and help, and parsers are built from them."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, get_args, get_origin, get_type_hints


@dataclass(frozen=True)
class Flag:
    """How a config field appears on the command line. Fields that share a flag name are set together by it
    (e.g. --expand-width sets the expand_width of every strategy that has one)."""

    help: str
    name: str | None = None  # default: --field-name; "{section}" stands for the top-level section's name
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
    """A dataclass field with a command-line flag: `num_numbers: int = flag("numbers per problem", 4)`.
    A bool field's flag flips its default (`fit: bool = flag("...", True, name="--no-fit")`).
    Its help is also the field's "help", which every config field has; a field without a flag declares it as
    `field(default=..., metadata={"help": "..."})`."""
    spec = Flag(help, name, metavar, choices)
    metadata = {"flag": spec, "help": help}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def flagged_fields(cls: type, prefix: str = "") -> Iterator[tuple[str, Flag, Any]]:
    """(dotted key, its Flag, its type) for every field with a flag, sections walked depth first."""
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, hint = f"{prefix}{f.name}", hints[f.name]
        if dataclasses.is_dataclass(hint):
            yield from flagged_fields(hint, key + ".")  # type: ignore[arg-type]
        elif "flag" in f.metadata:
            yield key, f.metadata["flag"], hint


def flags_of(cls: type) -> dict[str, tuple[Flag, Any, list[str]]]:
    """Each flag name -> (its Flag, the fields' type, the keys it sets), in the order of the fields."""
    flags: dict[str, tuple[Flag, Any, list[str]]] = {}
    for key, spec, hint in flagged_fields(cls):
        name = (spec.name or "--" + key.rsplit(".", 1)[-1].replace("_", "-")).format(section=key.split(".")[0])
        shared = flags.setdefault(name, (spec, hint, []))
        if shared[0].help != spec.help:  # one name, two meanings: the flag would set both
            raise TypeError(f"flag {name} is declared by {shared[2][0]} and {key} with different meanings")
        shared[2].append(key)
    return flags


def add_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per flag name of `cls`'s fields, grouped by top-level section, with types, choices and defaults
    taken from the fields. An unset flag parses as None: it leaves the config as it is."""
    defaults = cls()
    groups: dict[str, Any] = {}
    for name, (spec, hint, keys) in flags_of(cls).items():
        section = keys[0].split(".")[0] if "." in keys[0] else None
        target = (
            parser
            if section is None
            else groups.get(section) or groups.setdefault(section, parser.add_argument_group(section))
        )
        if _plain(hint) is bool:  # the flag flips the default
            target.add_argument(
                name, dest=dest(name), action="store_const", const=not get(defaults, keys[0]), help=spec.help
            )
            continue
        choices = list(spec.choices()) if spec.choices is not None else None
        kind, metavar = _parser(hint)
        target.add_argument(
            name,
            dest=dest(name),
            type=kind,
            choices=choices,
            metavar=None if choices else spec.metavar or metavar,
            help=spec.help + _default_note(defaults, keys),
        )


def given_flags(args: argparse.Namespace, cls: type) -> Iterator[tuple[str, list[str], Any]]:
    """(flag name, the keys it sets, its value) for each flag of `cls` given on the command line."""
    for name, (_, _, keys) in flags_of(cls).items():
        value = getattr(args, dest(name))
        if value is not None:
            yield name, keys, value


def dest(flag_name: str) -> str:
    return "config:" + flag_name.lstrip("-")


def get(config: Any, key: str) -> Any:
    """The value at a dotted key."""
    for part in key.split("."):
        config = getattr(config, part)
    return config


def split_list(text: str) -> list[str]:
    """A comma-separated flag value as its items."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _plain(hint: Any) -> Any:
    """The type without Optional."""
    options = [o for o in get_args(hint) if o is not type(None)] if get_origin(hint) is not list else []
    return options[0] if options else hint


def _parser(hint: Any) -> tuple[Callable[[str], Any], str]:
    """How a flag's text becomes the field's value, and its metavar: N, X, LIST or TEXT."""
    hint = _plain(hint)
    if get_origin(hint) is list:
        item = get_args(hint)[0]

        def items(text: str) -> list[Any]:
            return [item(part) for part in split_list(text)]

        items.__name__ = f"list of {item.__name__}"  # argparse names it in "invalid ... value"
        return items, "LIST"
    return {int: (int, "N"), float: (float, "X")}.get(hint, (str, "TEXT"))


def _default_note(defaults: Any, keys: list[str]) -> str:
    """' (default: 8)', or per alternative where they differ: ' (default: 200 for astar, bfs; none for mcts)'."""
    by_value: dict[str, list[str]] = {}
    for key in keys:
        value = get(defaults, key)
        shown = "none" if value is None else ",".join(map(str, value)) if isinstance(value, list) else str(value)
        by_value.setdefault(shown, []).append(key.split(".")[1] if key.count(".") > 1 else key)
    if len(by_value) == 1:
        value = next(iter(by_value))
        return "" if value in ("none", "") else f" (default: {value})"
    return " (default: " + "; ".join(f"{value} for {', '.join(names)}" for value, names in by_value.items()) + ")"
