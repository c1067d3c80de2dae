"""The experiment's settings (LearnConfig, a help text per field) and its named sizes: smoke, cpu, gpu."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from metacot.config import ConfigError, from_dict
from metacot.learn.conditions import CONDITIONS, check_conditions
from metacot.learn.eval_config import EvalConfig
from metacot.learn.external import check_external
from metacot.learn.model import ModelConfig
from metacot.learn.sizes import SIZES
from metacot.learn.splits import SplitSizes
from metacot.learn.train import TrainConfig
from metacot.presets import merged


def _help(text: str, default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    return field(default=default, metadata={"help": text}, **kwargs)


@dataclass(frozen=True)
class LearnConfig:
    out: str = _help("the experiment's directory (a rerun resumes it)", "runs/learn")
    seed: int = _help("the problems, their splits, the searches and the controls' random choices", 0)
    seeds: list[int] = field(
        default_factory=lambda: [0, 1, 2], metadata={"help": "training seeds: one model per condition and seed"}
    )
    conditions: list[str] = field(
        default_factory=lambda: list(CONDITIONS), metadata={"help": "the conditions trained, by registry name"}
    )
    external: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "help": "conditions from files, name -> a JSONL of {problem_id, completion} records of the training "
            "problems (another format, an older version of one, a priming variant): trained after the conditions"
        },
    )
    versus: list[str] = field(
        default_factory=list,
        metadata={"help": "pairs A:B of trained conditions whose difference A - B (by problem) the report shows"},
    )
    num_numbers: int = _help("numbers per Countdown problem (3: the CPU size, 4: the GPU size)", 3)
    low: int = _help("smallest number", 1)
    high: int = _help("largest number", 99)
    target_low: int = _help("smallest target", 10)
    target_high: int = _help("largest target", 100)
    target_share: float = _help("share of the targets held out of training and validation (Stream of Search)", 0.1)
    train_problems: int = _help("problems searched for training (those every search solves are trained on)", 5000)
    validation_problems: int = _help("problems to choose hyperparameters on (with cot), never the held-out ones", 200)
    heldout_problems: int = _help("held-out problems whose target training has", 500)
    heldout_new_targets: int = _help("held-out problems whose target training never has", 200)
    evaluate_on: str = _help(
        "the split the models are evaluated on: heldout (the experiment), or validation (choosing hyperparameters "
        "with cot, in a directory of its own: the held-out problems are never used to choose anything)",
        "heldout",
    )
    noise: float = _help("the oracle PRM's flip probability while searching", 0.0)
    mistake_rate: float = _help("the symbolic policy's share of wrong steps while searching", 0.0)
    drop_share: float = _help("the dropped control: probability that a failed branch is removed", 0.5)
    equal_tokens: int | None = _help(
        "best-of-n budget in generated tokens per problem (default: the longest mean training completion of any "
        "registered condition, in tokens: the trace model's one long answer); it sets how many samples a model gets",
        None,
    )
    bootstrap: int = _help("bootstrap resamples for the 95% intervals", 2000)
    jobs: int = _help("models trained and evaluated at once, each in a process of its own (set train.threads too)", 1)
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "the from-scratch model"})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"help": "training (equal tokens per condition)"})
    eval: EvalConfig = field(default_factory=EvalConfig, metadata={"help": "generation on the held-out problems"})

    # Settings that change no trained model or evaluation: a resumed directory may differ in them.
    RESUMABLE = ("out", "seeds", "conditions", "external", "versus", "bootstrap", "jobs")

    def __post_init__(self) -> None:
        check_conditions(self.conditions)
        check_external(self.external, list(CONDITIONS))
        for pair in self.versus:
            if len(self.pair(pair)) != 2 or not set(self.pair(pair)) <= set(self.trained()):
                raise ValueError(f"versus: expected A:B, two of {', '.join(self.trained())}; got {pair!r}")
        if not self.seeds or len(set(self.seeds)) < len(self.seeds):
            raise ValueError(f"seeds: expected distinct seeds, got {self.seeds}")
        if self.evaluate_on not in ("heldout", "validation"):
            raise ValueError(f"evaluate_on: expected heldout or validation, got {self.evaluate_on!r}")
        if not 2 <= self.num_numbers <= 6:
            raise ValueError(f"num_numbers: expected 2 to 6, got {self.num_numbers}")
        if not 0 <= self.target_share < 1 or not 0 <= self.noise <= 1 or not 0 <= self.drop_share <= 1:
            raise ValueError("target_share, noise and drop_share are shares in [0, 1]")
        if self.jobs < 1:
            raise ValueError(f"jobs must be positive: {self.jobs}")
        if self.train_problems < 2 or self.heldout_problems + self.heldout_new_targets < 1:
            raise ValueError("need at least 2 training problems and 1 held-out problem")

    def trained(self) -> list[str]:
        """Every condition a model is trained for: the registry's chosen ones, then those from files."""
        return [*self.conditions, *self.external]

    @staticmethod
    def pair(text: str) -> list[str]:
        """["A", "B"] from a versus entry "A:B"."""
        return text.split(":")

    def sizes(self) -> SplitSizes:
        return SplitSizes(
            self.train_problems,
            self.validation_problems,
            self.heldout_problems,
            self.heldout_new_targets,
            self.num_numbers,
            self.low,
            self.high,
            self.target_low,
            self.target_high,
            self.target_share,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def identity(self) -> dict:
        """What the directory's trained models and evaluations depend on (a resume with other values is refused);
        torch's threads change no result but its last digits."""
        data = {k: v for k, v in self.to_dict().items() if k not in self.RESUMABLE}
        data["train"] = {k: v for k, v in data["train"].items() if k != "threads"}
        return data


def learn_config(size: str = "cpu", overrides: dict | None = None) -> LearnConfig:
    """The named size's settings with `overrides` (a nested dict) on top; ConfigError naming the key."""
    if size not in SIZES:
        raise ConfigError(f"--size: unknown size {size!r}; known: {', '.join(SIZES)}")
    return from_dict(LearnConfig, merged(SIZES[size], overrides or {}), f"size {size}")


def nested(key: str, value: Any) -> dict:
    """{"train": {"learning_rate": v}} from "train.learning_rate" and v."""
    out: dict = {}
    target = out
    *parents, name = key.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[name] = value
    return out
