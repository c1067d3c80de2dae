"""Run configuration: nested dataclasses, loaded from TOML and overridden by CLI flags; the config hash."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, get_args, get_origin, get_type_hints

import orjson

from metacot.checks import at_least, between
from metacot.conditioning import BehaviorsConfig
from metacot.distributed.config import RayConfig
from metacot.flags import flag
from metacot.linearize.config import LinearizeConfig
from metacot.policy.config import PolicyConfig
from metacot.presets import PRESETS, merged, preset
from metacot.prm.config import PRMConfig
from metacot.problems.config import ProblemsConfig
from metacot.search.breaker import RunConfig
from metacot.search.config import SearchConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """A config file or flag that cannot be used; the message names the file and key."""


MAX_SEED = 2**63 - 1  # a seed is stored as a signed 64-bit integer (JSON, numpy)

# The sections that hold one sub-section per alternative, and the key that chooses the one a run uses.
SELECTORS = {"problems": "domain", "policy": "backend", "prm": "backend", "search": "strategy"}


@dataclass
class SynthConfig:
    # settings applied first: the config file, flags and --set override them (metacot.presets)
    preset: str | None = flag(
        "named settings applied before --config, the flags and --set", None, choices=lambda: PRESETS
    )
    seed: int = flag("run seed: problems and every random choice derive from it", 0)
    out: str = flag("run directory", "runs/demo", metavar="DIR")
    concurrency: int = flag("searches in flight at once; changes no result but a model's last digits", 64)
    problems: ProblemsConfig = field(default_factory=ProblemsConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    prm: PRMConfig = field(default_factory=PRMConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    linearize: LinearizeConfig = field(default_factory=LinearizeConfig)
    run: RunConfig = field(default_factory=RunConfig)
    behaviors: BehaviorsConfig = field(default_factory=BehaviorsConfig)  # off unless behaviors.handbook is set
    ray: RayConfig = field(default_factory=RayConfig)  # where the searches run: not in tree_settings

    def __post_init__(self) -> None:
        between("seed", self.seed, 0, MAX_SEED, int)
        at_least("concurrency", self.concurrency, 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def tree_settings(self, problems_digest: str | None = None) -> dict:
        """What a resumed run must share with the run it continues: every setting that changes the trees.

        A problems file counts by its content (`problems_digest`, from problem_digests), not by its path: the same
        file given another way resumes, an edited one does not.

        Of the problems, policy, PRM and search sections only the chosen domain's, backend's and strategy's own
        count, so editing an unused section does not lock a run directory; nor do the settings a backend's section
        names in its TRANSPORT tuple (how a server is reached, or a local model's threads: how it runs, not what it is).
        """
        config = self.to_dict()
        problems = self.problems.tree_settings()
        if self.problems.file is not None and problems_digest is not None:
            problems["file"] = {"content": problems_digest}
        settings: dict = {"seed": self.seed, "problems": problems}
        for section in ("policy", "prm", "search"):
            key = SELECTORS[section]
            name = config[section][key]
            values = config[section].get(name)
            if isinstance(values, dict):
                values = {k: v for k, v in values.items() if k not in transport(getattr(self, section), name)}
            settings[section] = {key: name, name: values}
        if self.behaviors.handbook is not None:  # only a conditioned run counts them: older runs resume as they were
            settings["behaviors"] = config["behaviors"]
        return settings

    def hash(self, problems_digest: str | None = None) -> str:
        settings = self.tree_settings(problems_digest)
        return hashlib.sha256(orjson.dumps(settings, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def transport(section: Any, name: str) -> tuple[str, ...]:
    """The settings that a section's chosen subsection (`name`: a backend) names in its TRANSPORT tuple: how a server
    is reached (URLs, key variable, timeouts) or a local model's threads; how it runs, not what it makes."""
    return getattr(getattr(section, name, None), "TRANSPORT", ())


def from_dict(cls: type, data: dict, where: str) -> Any:
    """Build a config dataclass from a mapping, checking every key and value type; errors name the key. `where` is
    the table's dotted key, after its file where there is one: "search.mcts", "FILE: config", "FILE:" (the file's
    top level)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where.rstrip(':') or 'config'}: expected a table, got {type(data).__name__}")
    if hasattr(cls, "migrate"):  # a section that moves its old keys to where they are now
        try:
            data = cls.migrate(data, where)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        name = dotted(where, key)
        if key not in known:
            moved = getattr(cls, "MOVED", {}).get(key)  # a renamed setting: say where it went
            hint = f"it is now {dotted(where, moved)}" if moved else f"known: {', '.join(sorted(known))}"
            raise ConfigError(f"{name}: unknown key ({hint})")
        values[key] = _convert(hints[key], value, name)
    try:
        return dataclasses.replace(cls(), **values)
    except ValueError as error:  # the config's own checks; the message starts with the setting's name
        raise ConfigError(dotted(where, str(error))) from None


def dotted(where: str, key: str) -> str:
    """The key inside the table `where`: "search.mcts.c_puct", and "FILE: search" at a file's top level ("FILE:")."""
    if not where:
        return key
    return f"{where} {key}" if where.endswith(":") else f"{where}.{key}"


def _convert(hint: Any, value: Any, name: str) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(hint, value, name)
    options = get_args(hint) if get_origin(hint) is not list else ()
    if options and type(None) in options:
        if value is None:
            return None
        hint = next(o for o in options if o is not type(None))
    if get_origin(hint) is UnionType:  # e.g. str | list[str]: the first type that takes the value
        return _either(get_args(hint), value, name)
    if get_origin(hint) is dict and not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a table, got {value!r}")
    if get_origin(hint) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        return [_convert(get_args(hint)[0], v, name) for v in value]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and type(value) is not hint:
        raise ConfigError(f"{name}: expected {hint.__name__}, got {value!r}")
    return value


def _either(hints: tuple, value: Any, name: str) -> Any:
    for hint in hints:
        try:
            return _convert(hint, value, name)
        except ConfigError:
            pass
    kinds = " or ".join(str(h) if get_origin(h) else h.__name__ for h in hints)
    raise ConfigError(f"{name}: expected {kinds}, got {value!r}")


def set_key(config: Any, key: str, value: Any, where: str) -> None:
    """Set one dotted key (e.g. "search.mcts.c_puct") to `value`, checked against the field's type; `where` names
    the flag in errors."""
    *parents, name = key.split(".")
    target = config
    for part in parents:
        target = getattr(target, part, None)
        if not dataclasses.is_dataclass(target):
            raise ConfigError(f"{where}: {key} is not a setting")
    hints = get_type_hints(type(target))
    if name not in hints or dataclasses.is_dataclass(hints[name]):
        raise ConfigError(f"{where}: {key} is not a setting")
    setattr(target, name, _convert(hints[name], value, where))


def check_key(config: Any, key: str, where: str) -> None:
    """Run the checks of the section that holds a key (they ran when it was built, before the key was set). An
    error about another setting of the section (its message starts with the setting's name) is left to that
    setting's own check, or to the whole config's (`checked`), so that `where` is never blamed for it."""
    section, _, name = key.rpartition(".")
    target = config
    for part in filter(None, section.split(".")):
        target = getattr(target, part)
    try:
        dataclasses.replace(target)
    except ValueError as error:
        named = str(error).split(":", 1)[0]
        if named == name or named not in {f.name for f in dataclasses.fields(target)}:
            raise ConfigError(f"{where}: {section + '.' if section else ''}{error}") from None


def in_use(config: SynthConfig, key: str) -> bool:
    """Whether a dotted key lies outside every alternative or in the chosen one (the run's domain, backends and
    strategy): "search.astar.budget.nodes" is in use only when search.strategy is "astar"."""
    parts = key.split(".")
    selector = SELECTORS.get(parts[0])
    if selector is None or len(parts) < 3:
        return True
    return parts[1] == getattr(getattr(config, parts[0]), selector)


def checked(config: SynthConfig) -> SynthConfig:
    """The config built again from its values, so that each section's own checks see what flags set."""
    return from_dict(SynthConfig, config.to_dict(), "config")


def parse_value(text: str) -> Any:
    """A value given on the command line: a TOML value (3, 0.5, true, "a", [1, 2]), none for None, else the text."""
    if text.strip().lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(path: str | Path | None, preset_name: str | None = None) -> SynthConfig:
    """The defaults, updated by a preset (`preset_name`, else the file's `preset` key), then by a TOML file."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: {error}") from None
        except UnicodeDecodeError as error:
            why = f"{error.reason} at byte {error.start}"
            raise ConfigError(f"{path}: not UTF-8 text, as TOML must be ({why})") from None
    name = preset_name if preset_name is not None else data.get("preset")
    if name is not None:
        try:
            data = {**merged(preset(name, "--preset" if preset_name is not None else f"{path}: preset"), data)}
        except ValueError as error:
            raise ConfigError(str(error)) from None
        data["preset"] = name
    return from_dict(SynthConfig, data, f"{path}:" if path is not None else f"preset {name}:")
