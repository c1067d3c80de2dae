"""The [problems] table: per-domain sections, the old flat keys moved with a warning, the domain registry, what
locks a run directory, and run directories whose manifests use the old layout."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import orjson
import pytest

from metacot.cli import main
from metacot.config import ConfigError, SynthConfig, from_dict, load_config
from metacot.outputs.rundir import RunDir, RunDirError
from metacot.problems import (
    DOMAINS,
    CountdownDomain,
    DomainSpec,
    MathDomain,
    ProblemsConfig,
    get_domain,
    make_domain,
    make_problems,
)
from metacot.problems.countdown import CountdownDomain as CountdownFromPackage
from metacot.problems.countdown import CountdownProblem

# config.problems as runs wrote it before the per-domain sections: every key in one flat table
OLD_PROBLEMS = {
    "domain": "countdown",
    "file": None,
    "dataset": None,
    "split": "train",
    "limit": None,
    "num_problems": 100,
    "preset": "generic",
    "question_field": None,
    "answer_field": None,
    "id_field": None,
    "solve_rate": None,
    "skip_invalid": False,
    "max_depth": 20,
    "levels": [1, 2, 3],
    "num_numbers": 4,
    "low": 1,
    "high": 99,
    "target_low": 10,
    "target_high": 100,
    "target": None,
}


def write_config(tmp_path, text: str):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


# --- sections and the old flat keys -----------------------------------------------------------------


def test_sections_are_read_from_toml(tmp_path):
    path = write_config(
        tmp_path,
        '[problems]\ndomain = "math"\n[problems.countdown]\nnum_numbers = 5\n[problems.math]\nmax_depth = 7\n',
    )
    config = load_config(path).problems
    assert config.countdown.num_numbers == 5 and config.math.max_depth == 7
    assert isinstance(make_domain(config), MathDomain) and make_domain(config).max_depth == 7


def test_old_flat_keys_move_into_their_section_with_a_warning(tmp_path, caplog):
    path = write_config(tmp_path, '[problems]\nnum_numbers = 5\ntarget = 24\npreset = "gsm8k"\n')
    with caplog.at_level(logging.WARNING, logger="metacot"):
        config = load_config(path).problems
    assert (config.countdown.num_numbers, config.countdown.target, config.math.preset) == (5, 24, "gsm8k")
    messages = [r.getMessage() for r in caplog.records]
    assert f"{path}: problems.num_numbers is deprecated: use problems.countdown.num_numbers" in messages
    assert f"{path}: problems.preset is deprecated: use problems.math.preset" in messages
    assert len(messages) == 3


def test_the_warning_names_old_and_new_key(caplog):
    with caplog.at_level(logging.WARNING, logger="metacot"):
        config = from_dict(ProblemsConfig, {"num_numbers": 3}, "problems")
    assert config.countdown.num_numbers == 3
    assert caplog.messages == ["problems.num_numbers is deprecated: use problems.countdown.num_numbers"]


def test_a_key_given_both_ways_is_an_error(tmp_path):
    path = write_config(tmp_path, "[problems]\nnum_numbers = 5\n[problems.countdown]\nnum_numbers = 6\n")
    with pytest.raises(ConfigError, match="problems.num_numbers and .*problems.countdown.num_numbers are both given"):
        load_config(path)


def test_unknown_keys_and_domains_are_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"problems.countdown.levels: unknown key"):
        load_config(write_config(tmp_path, "[problems.countdown]\nlevels = [1]\n"))
    with pytest.raises(ConfigError, match=r"problems.math: expected a table"):
        load_config(write_config(tmp_path, "[problems]\nmath = 3\nmax_depth = 4\n"))
    with pytest.raises(ValueError, match="problems.domain: unknown domain 'chess'; known: countdown, math"):
        make_domain(ProblemsConfig(domain="chess"))


def test_flags_set_the_sections(tmp_path):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--no-progress", "--num-problems", "3", "--num-numbers", "3"]) == 0
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["config"]["problems"]["countdown"]["num_numbers"] == 3
    assert "math" not in manifest["settings"]["problems"]


# --- what locks a run directory ---------------------------------------------------------------------


def test_only_the_chosen_domains_section_changes_the_hash():
    base = SynthConfig()
    other = SynthConfig()
    other.problems.math.max_depth = 3
    assert other.hash() == base.hash()
    other.problems.countdown.num_numbers = 5
    assert other.hash() != base.hash()
    assert set(base.tree_settings()["problems"]) == {
        "domain",
        "file",
        "dataset",
        "split",
        "limit",
        "num_problems",
        "countdown",
    }


# --- the registry -----------------------------------------------------------------------------------


def test_every_registered_domain_has_its_section_and_builds():
    for name in DOMAINS:
        config = ProblemsConfig(domain=name)
        assert config.section() is getattr(config, name)
        assert make_domain(config).name == name
        assert get_domain(name).name == name
    assert CountdownDomain is CountdownFromPackage


def test_limit_cuts_a_file_but_not_the_generator(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"numbers": [1, 2, n], "target": 3 + n}) + b"\n" for n in range(5)))
    assert len(make_problems(ProblemsConfig(file=str(path), limit=2), 0)) == 2
    assert len(make_problems(ProblemsConfig(num_problems=4, limit=2), 0)) == 4
    with pytest.raises(ValueError, match="a file or a dataset, not both"):
        make_problems(ProblemsConfig(file=str(path), dataset="x"), 0)
    with pytest.raises(ValueError, match="problems.dataset: Countdown problems come from"):
        make_problems(ProblemsConfig(dataset="x"), 0)


@dataclass
class ToyConfig:
    size: int = 2


@dataclass
class ToyProblemsConfig(ProblemsConfig):
    toy: ToyConfig = field(default_factory=ToyConfig)


def test_a_new_domain_needs_only_its_spec_and_its_section(monkeypatch):
    """What "Extending metacot" describes: a registry entry and a section; nothing else is edited."""

    def toy_problems(config, section, seed):
        return [CountdownProblem(f"toy-{i}", (1,) * section.size, section.size) for i in range(config.num_problems)]

    monkeypatch.setitem(DOMAINS, "toy", DomainSpec(build=lambda section: CountdownDomain(), problems=toy_problems))
    config = from_dict(ToyProblemsConfig, {"domain": "toy", "num_problems": 2, "toy": {"size": 3}}, "problems")
    assert [p.numbers for p in make_problems(config, 0)] == [(1, 1, 1), (1, 1, 1)]
    assert set(config.tree_settings()) == {"domain", "file", "dataset", "split", "limit", "num_problems", "toy"}


# --- run directories from before the sections -------------------------------------------------------


def make_old_run(tmp_path, problems: dict):
    out = tmp_path / "run"
    assert main(["synth", "--out", str(out), "--no-progress", "--num-problems", "3", "--formats", "cot"]) == 0
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    manifest["config"]["problems"] = problems
    manifest["settings"]["problems"] = problems
    (out / "manifest.json").write_bytes(orjson.dumps(manifest))
    return out


def test_linearize_show_and_export_read_an_old_manifest(tmp_path, capsys, caplog):
    out = make_old_run(tmp_path, OLD_PROBLEMS)
    with caplog.at_level(logging.WARNING, logger="metacot"):
        assert isinstance(RunDir(out).domain(), CountdownDomain)
        assert main(["linearize", str(out), "--formats", "tokens"]) == 0
        assert main(["show", str(out), "--format", "tokens"]) == 0
        assert main(["export", str(out), "--prm-labels"]) == 0
    assert (out / "traces" / "tokens.jsonl").stat().st_size > 0
    assert (out / "exports" / "prm-labels-prm-t0.5-stepwise" / "README.md").exists()
    assert "--- tokens ---" in capsys.readouterr().out
    assert not caplog.records  # an old run is not the user's to fix: no deprecation warnings


def test_an_old_math_manifest_keeps_its_section_settings(tmp_path):
    out = make_old_run(tmp_path, {**OLD_PROBLEMS, "domain": "math", "max_depth": 7})
    domain = RunDir(out).domain()
    assert isinstance(domain, MathDomain) and domain.max_depth == 7


def test_a_manifest_without_problems_is_a_clear_error(tmp_path):
    out = make_old_run(tmp_path, OLD_PROBLEMS)
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    del manifest["config"]["problems"]
    (out / "manifest.json").write_bytes(orjson.dumps(manifest))
    with pytest.raises(RunDirError, match="no config.problems table"):
        RunDir(out).domain()
