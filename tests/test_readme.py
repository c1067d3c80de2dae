"""The README's and the docs site's claims hold: the install commands, the config defaults, every flag they name."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from metacot.cli import build_parser
from metacot.config import SynthConfig, load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]


def test_the_readme_opens_with_the_two_set_up_commands_and_their_extras_exist():
    lines = README.read_text().splitlines()
    assert lines[2] == "```bash" and lines[3].startswith("python3 -m venv .venv && .venv/bin/pip install . &&")
    extras = re.search(r"pip install -e '\.\[([a-z,]+)\]'", lines[4])
    assert extras is not None and lines[4].endswith("# install, run the tests")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras[1].split(",")) <= set(declared)


def test_the_readme_links_to_pages_that_exist():
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README.read_text())
    assert links and [link for link in links if not (ROOT / link).is_file()] == []


def test_the_config_reference_defaults_block_is_the_defaults(tmp_path):
    text = (ROOT / "docs" / "reference" / "config.md").read_text()
    block = re.search(r"## All defaults as one file\n\n```toml\n(.*?)```", text, re.S)
    assert block is not None
    path = tmp_path / "defaults.toml"
    path.write_text(block[1])
    assert load_config(path) == SynthConfig()


def commands(text: str) -> Iterator[tuple[str, str]]:
    """(the text after `metacot` up to the end of its command, the page's line) for every metacot command named in
    code: a line of a code block, or an inline code span."""
    text = re.sub(r"\\\n\s*", " ", text)  # a shell line continued with a backslash
    spans = re.findall(r"```[a-z]*\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text)
    for span in spans:
        for line in span.splitlines():
            for command in re.split(r"(?:^|[\s$(])metacot (?=[a-z-])", line)[1:]:
                yield re.split(r"&&|;|#|\s\|\s", command)[0], line


def parser_for(words: list[str], top: argparse.ArgumentParser) -> argparse.ArgumentParser | None:
    """The (sub)command parser the leading words name (`bench strategies`: its own); None if they name no command."""
    parser = None
    for word in words:
        verbs = [a for a in (parser or top)._actions if isinstance(a, argparse._SubParsersAction)]
        if not verbs or word not in verbs[0].choices:
            break
        parser = verbs[0].choices[word]
    return parser


def test_every_flag_the_readme_and_the_docs_name_exists():
    checked, unknown, top = 0, [], build_parser()
    synth = parser_for(["synth"], top)
    for page in PAGES:
        for command, line in commands(page.read_text()):
            own, _, passed = command.partition(" -- ")  # flags after " -- " are handed to `metacot synth`
            for text, parser in ((own, parser_for(own.split(), top)), (passed, synth)):
                if parser is None:
                    continue
                known = {option for action in parser._actions for option in action.option_strings}
                for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text):
                    checked += 1
                    if flag not in known:
                        unknown.append(f"{page.relative_to(ROOT)}: {flag} in {line.strip()!r}")
    assert synth is not None and unknown == [] and checked > 100, checked


def test_the_readme_sample_is_a_record_of_the_default_demo_that_passes_the_audit(tmp_path, capsys):
    """The sample trace is the named problem's metacot completion in a default `metacot synth`, and `metacot audit`
    (tree checks and the reader's) passes the run."""
    import orjson

    from metacot.cli import main

    text = README.read_text()
    problem = re.search(r"A record of `runs/demo/traces/metacot.jsonl` \(problem `([\w-]+)`", text)
    sample = re.search(r"## One trace\n.*?```\n(.*?)\n```", text, re.S)
    assert problem and sample
    out = tmp_path / "demo"
    assert main(["synth", "--out", str(out), "--no-progress"]) in (0, None)
    records = (orjson.loads(line) for line in (out / "traces" / "metacot.jsonl").read_bytes().splitlines())
    completion = next(r["completion"] for r in records if r["problem_id"] == problem[1])
    assert sample[1] == completion
    assert main(["audit", str(out), "--no-progress"]) == 0
