"""The trace formats, one module each, behind one registry: a format's name and its TraceFormat."""

from __future__ import annotations

from metacot.linearize.formats.base import TraceFormat
from metacot.linearize.formats.cot import COT
from metacot.linearize.formats.metacot import METACOT
from metacot.linearize.formats.paper import PAPER
from metacot.linearize.formats.sos import SOS
from metacot.linearize.formats.tokens import TOKENS

FORMATS: dict[str, TraceFormat] = {
    "metacot": METACOT,
    "paper": PAPER,
    "tokens": TOKENS,
    "cot": COT,
    "sos": SOS,
}
DEFAULT_FORMAT = "metacot"  # the format read or shown when none is named (export, the viewer)


def formats_help() -> str:
    """The --formats help: each format in a few words, and the default."""
    listed = ", ".join(f"{name} ({fmt.help})" for name, fmt in FORMATS.items())
    on_request = ",".join(name for name, fmt in FORMATS.items() if fmt.on_request)
    return f"comma-separated trace formats, by default all the domain writes but {on_request}: {listed}"


def with_segments() -> list[str]:
    """The formats whose records can be cut into segments by move."""
    return [name for name, fmt in FORMATS.items() if fmt.segments]


__all__ = ["DEFAULT_FORMAT", "FORMATS", "TraceFormat", "formats_help", "with_segments"]
