"""Where a run's problems come from: a domain, and a file, a dataset or the domain's own generator."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ProblemsConfig:
    domain: str = "countdown"  # "countdown" or "math"
    file: str | None = None  # Countdown: JSONL; math: JSONL, JSON, Parquet or CSV. None: generate problems
    dataset: str | None = None  # math: a `datasets.load_dataset` name or path, instead of a file
    split: str = "train"  # the dataset's split
    limit: int | None = None  # use only the first `limit` problems of a file or dataset
    num_problems: int = 100  # how many to generate when there is no file or dataset
    # math files and datasets: field names from a preset ("generic", "math", "gsm8k", "bigmath"), overridable
    preset: str = "generic"
    question_field: str | None = None
    answer_field: str | None = None
    id_field: str | None = None
    solve_rate: list[float] | None = None  # math: keep problems whose solve rate lies in [low, high] (Big-MATH)
    skip_invalid: bool = False  # math: leave out records without a question or answer instead of stopping
    max_depth: int = 20  # math: the most steps a solution may take
    levels: list[int] = field(default_factory=lambda: [1, 2, 3])  # math: difficulty levels of generated problems
    # Countdown generation
    num_numbers: int = 4
    low: int = 1  # numbers lie in [low, high]
    high: int = 99
    target_low: int = 10  # targets lie in [target_low, target_high] ...
    target_high: int = 100
    target: int | None = None  # ... unless fixed: 24 gives the Game of 24
