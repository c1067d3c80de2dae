"""Checks of one config setting each: a ValueError whose message starts with the setting's name."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def at_least(name: str, value: Any, least: float, kind: type = int) -> None:
    """A ValueError naming the setting unless value is a finite number of the kind (int, or float) and at least
    `least` (nan and inf are refused: neither is a usable setting)."""
    kinds = (int,) if kind is int else (int, float)
    if type(value) not in kinds or not math.isfinite(value) or value < least:
        what = "an integer" if kind is int else "a finite number"
        raise ValueError(f"{name}: must be {what} of at least {least:g}, got {value!r}")


def between(name: str, value: Any, low: float, high: float, kind: type = float) -> None:
    """A ValueError naming the setting unless value is a number of the kind in [low, high]."""
    kinds = (int,) if kind is int else (int, float)
    if type(value) not in kinds or not low <= value <= high:  # nan fails both comparisons
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{name}: must be {what} in [{low}, {high}], got {value!r}")


def optional_at_least(name: str, value: Any, least: int) -> None:
    """at_least for an integer setting that may also be None (no limit)."""
    if value is not None:
        at_least(name, value, least)


def one_of(name: str, value: Any, options: Iterable[Any]) -> None:
    """A ValueError naming the setting unless value is one of the options."""
    options = tuple(options)
    if value not in options:
        raise ValueError(f"{name}: unknown {name} {value!r}; expected one of {', '.join(map(repr, options))}")
