"""How every `metacot` parser writes its --help: prose refilled, examples kept as written, each option's default."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """An option's help ends with '(default: X)' where X is a value it takes when not given; nothing is added for a
    default that means "not given" (None, False, an empty list), nor where the help tells its default itself (the
    config flags' notes). In descriptions and epilogs, lines that start with a space (examples) are kept as
    written, and the other lines are refilled as paragraphs."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not shows_default(action.default) or "(default" in text:
            return text
        return super()._get_help_string(action) or text

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines: list[str] = []
        prose: list[str] = []
        for line in [*text.splitlines(), ""]:
            if line and not line[0].isspace():
                prose.append(line.strip())
                continue
            if prose:
                lines.append(textwrap.fill(" ".join(prose), width, initial_indent=indent, subsequent_indent=indent))
                prose.clear()
            lines.append(indent + line if line else "")
        return "\n".join(lines[:-1])


def shows_default(default: Any) -> bool:
    """Whether a default is a value worth printing: not None, False, SUPPRESS, nor an empty list or text."""
    if default is None or default is False or default == argparse.SUPPRESS:
        return False
    return not (isinstance(default, (list, str)) and not default)


class Parser(argparse.ArgumentParser):
    """An argument parser whose help HelpFormatter writes; its subcommands' parsers are Parsers too (argparse makes
    them of the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
