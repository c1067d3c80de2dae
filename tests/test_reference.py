"""The docs' CLI and config references are generated from the code: committed pages are current, every key has help."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

from metacot.config import SynthConfig

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gen_reference.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gen_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_committed_cli_reference_is_what_the_parsers_give():
    reference = load_script()
    assert reference.PAGES["cli"].read_text() == reference.render_cli(), "run python scripts/gen_reference.py"


def test_the_committed_config_reference_is_what_the_dataclasses_give():
    reference = load_script()
    assert reference.PAGES["config"].read_text() == reference.render_config(), "run python scripts/gen_reference.py"


def test_every_config_key_has_help():
    def missing(config, prefix: str = "") -> list[str]:
        keys = []
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            if dataclasses.is_dataclass(value):
                keys += missing(value, f"{prefix}{f.name}.")
            elif not f.metadata.get("help", "").strip():
                keys.append(prefix + f.name)
        return keys

    assert missing(SynthConfig()) == [], 'give each field(default=..., metadata={"help": "..."})'


def test_a_flag_or_key_the_pages_lack_makes_them_stale(monkeypatch):
    reference = load_script()
    cli, config = reference.render_cli(), reference.render_config()

    @dataclasses.dataclass
    class Grown(SynthConfig):
        brand_new: int = dataclasses.field(default=3, metadata={"help": "a key no page names yet"})

    monkeypatch.setattr(reference, "SynthConfig", Grown)
    assert "brand_new" in reference.render_config() and "brand_new" not in config
    build = reference.build_parser

    def grown_parser():
        parser = build()
        parser.add_argument("--brand-new-flag", help="a flag no page names yet")
        return parser

    monkeypatch.setattr(reference, "build_parser", grown_parser)
    assert "--brand-new-flag" in reference.render_cli() and "--brand-new-flag" not in cli
