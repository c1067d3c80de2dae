"""Flags come from the config fields: every flagged field is on the command line, a shared flag sets every field
that declares it, --set reaches any key, and a flag the run would ignore is an error."""

from __future__ import annotations

import dataclasses

import pytest

from metacot.cli import build_parser, main, synth_config
from metacot.config import SynthConfig
from metacot.flags import flag, flags_of
from metacot.search import SEARCHES, strategies_with


def parse(*argv: str) -> SynthConfig:
    return synth_config(build_parser().parse_args(["synth", *argv]))


def test_every_flagged_field_has_a_flag_and_a_help_line(capsys):
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    text = capsys.readouterr().out
    for name, (spec, _, keys) in flags_of(SynthConfig).items():
        assert name in text, keys
        assert spec.help.split()[0] in text


def test_flags_set_their_keys_with_the_fields_types():
    config = parse("--num-numbers", "5", "--target", "24", "--formats", "metacot,cot", "--seed", "3")
    assert config.problems.countdown.num_numbers == 5
    assert config.problems.countdown.target == 24
    assert config.linearize.formats == ["metacot", "cot"]
    assert config.seed == 3


def test_a_shared_flag_sets_every_field_that_declares_it():
    assert flags_of(SynthConfig)["--max-nodes"][2] == [f"search.{name}.budget.nodes" for name in SEARCHES]
    assert flags_of(SynthConfig)["--expand-width"][2] == [
        f"search.{n}.expand_width" for n in strategies_with("expand_width")
    ]
    config = parse("--search", "astar", "--max-nodes", "30", "--expand-width", "3")
    for name in SEARCHES:
        section = getattr(config.search, name)
        assert section.budget.nodes == 30
        assert getattr(section, "expand_width", 3) == 3


def test_set_reaches_any_key_and_parses_toml_values():
    config = parse(
        "--set",
        "problems.countdown.high=13",
        "--set",
        "linearize.value_lines=true",
        "--set",
        "problems.file=my problems.jsonl",
        "--set",
        "problems.limit=none",
    )
    assert config.problems.countdown.high == 13
    assert config.linearize.value_lines is True
    assert config.problems.file == "my problems.jsonl"
    assert config.problems.limit is None


def test_set_is_applied_after_the_flags():
    assert parse("--low", "2", "--set", "problems.countdown.low=3").problems.countdown.low == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "problems.countdown.nope=1"], "--set problems.countdown.nope: problems.countdown.nope is not a"),
        (["--set", "problems.countdown=1"], "is not a setting"),
        (["--set", "problems.countdown.low=x"], "--set problems.countdown.low: expected int, got 'x'"),
        (["--set", "novalue"], "expected KEY=VALUE"),
        (["--concurrency", "0"], "--concurrency: concurrency: must be an integer of at least 1"),  # not --out's
        (["--set", "concurrency=0", "--seed", "3"], "--set concurrency: concurrency: must be"),  # not --seed's
        (["--set", "policy.openai.timeout=1e308"], "policy.openai.timeout: must be a number in [0, 86400.0]"),
        (["--set", "policy.openai.backoff=1e10"], "policy.openai.backoff: must be a number in [0, 86400.0]"),
    ],
)
def test_bad_flags_are_one_clear_line(argv, message, capsys):
    assert main(["synth", "--no-progress", "--out", "/nonexistent/never", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_a_flag_the_chosen_alternative_does_not_use_is_ignored_with_a_warning(caplog):
    config = parse("--search", "astar", "--simulations", "3", "--domain", "math", "--num-numbers", "5")
    assert config.search.mcts.simulations == 3  # set, and unused: editing an unused section changes nothing
    warnings = "\n".join(record.getMessage() for record in caplog.records)
    assert "--simulations sets search.mcts.simulations, which the chosen search.strategy ('astar') does not use" in (
        warnings
    )
    assert "--num-numbers sets problems.countdown.num_numbers, which the chosen problems.domain ('math')" in warnings


@dataclasses.dataclass
class _Named:
    preset: str = flag("named settings", "")


@dataclasses.dataclass
class _Fields:
    schema: str = flag("a file's field names", "", name="--preset")


@dataclasses.dataclass
class _Both:
    a: _Named = dataclasses.field(default_factory=_Named)
    b: _Fields = dataclasses.field(default_factory=_Fields)


def test_one_flag_name_with_two_meanings_is_refused_when_the_flags_are_built():
    with pytest.raises(TypeError, match="flag --preset is declared by a.preset and b.schema with different meanings"):
        flags_of(_Both)
