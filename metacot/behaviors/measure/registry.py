"""Behaviour taggers by name: each a factory from the measured path and the taggers' settings, and the file its
rows are written to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from metacot.behaviors.measure.base import Tagger
from metacot.behaviors.measure.inputs import is_run
from metacot.behaviors.measure.judge import JudgeConfig


@dataclass
class TaggerSettings:
    """What the taggers are told: the judge's section (flags --judge-*, keys judge.* for --set)."""

    judge: JudgeConfig = field(default_factory=JudgeConfig)


def _structural(path: Path, settings: TaggerSettings) -> Tagger:
    from metacot.behaviors.measure.structural import StructuralTagger

    if is_run(path):
        return StructuralTagger(path)
    run = path.parent if path.is_dir() else path.parent.parent  # RUN/prime or RUN/prime/<variant>.jsonl
    if is_run(run):
        return StructuralTagger(run)  # priming records: re-rendered from the run's trees
    raise ValueError(f"--tagger structural: {path} is neither a run directory nor its priming records (RUN/prime)")


def _heuristic(path: Path, settings: TaggerSettings) -> Tagger:
    from metacot.behaviors.measure.heuristic import HeuristicTagger

    return HeuristicTagger()


def _llm(path: Path, settings: TaggerSettings) -> Tagger:
    from metacot.behaviors.measure.judge import make_judge

    return make_judge(settings.judge)


@dataclass(frozen=True)
class TaggerEntry:
    """A tagger's factory (from the run directory or JSONL file measured, and the settings) and the name of its
    rows file in the output folder (its chart beside it, the same name with .png): each tagger its own, so that
    one tagger's counts never replace another's."""

    make: Callable[[Path, TaggerSettings], Tagger]
    rows: str

    @property
    def chart(self) -> str:
        return str(Path(self.rows).with_suffix(".png"))


# name -> its entry; a new tagger is one line here.
TAGGERS: dict[str, TaggerEntry] = {
    "structural": TaggerEntry(_structural, "structural.jsonl"),
    "heuristic": TaggerEntry(_heuristic, "heuristic.jsonl"),
    "llm": TaggerEntry(_llm, "llm.jsonl"),
}


def default_tagger(path: Path) -> str:
    """structural for a run directory or its prime/ folder (exact, from the run's trees), else heuristic."""
    return "structural" if is_run(path) or (path.name == "prime" and is_run(path.parent)) else "heuristic"


def tagger_entry(name: str) -> TaggerEntry:
    """The entry registered as `name`; a one-line error naming the known taggers for any other name."""
    if name not in TAGGERS:
        raise ValueError(f"--tagger: unknown tagger {name!r}; known: {', '.join(TAGGERS)}")
    return TAGGERS[name]
