"""The README's claims about the config and the CLI hold: its TOML block is the defaults, its flags exist."""

from __future__ import annotations

import re
from pathlib import Path

from metacot.cli import build_parser
from metacot.config import SynthConfig, load_config

README = Path(__file__).parent.parent / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(title)
    return text[start : text.index("\n## ", start)]


def test_the_config_block_holds_every_default(tmp_path):
    block = re.search(r"```toml\n(.*?)```", _section("### Config file"), re.S)
    assert block is not None
    path = tmp_path / "readme.toml"
    path.write_text(block[1])
    assert load_config(path) == SynthConfig()


def test_every_synth_flag_the_readme_names_exists():
    text = _section("## CLI")
    start = text.index("`metacot synth` flags")
    paragraph = text[start : text.index("\n\n", start)]
    named = set(re.findall(r"`(--[a-z][a-z-]*)", paragraph))
    parser = build_parser()
    synth = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("synth"))
    known = {option for action in synth._actions for option in action.option_strings}
    assert named and named <= known, named - known
