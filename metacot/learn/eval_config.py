"""How a trained model is evaluated: the settings of its greedy and sampled completions."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EvalConfig:
    """How each held-out problem is attempted: one greedy completion and `samples` sampled ones."""

    samples: int = field(
        default=8,
        metadata={
            "help": "most sampled completions per problem besides the greedy one (a model gets as many as the "
            "equal-token budget can use)"
        },
    )
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    sampled_problems: int | None = field(
        default=None,
        metadata={"help": "problems that also get samples, spread evenly over the list (default: every problem)"},
    )
    curve_problems: int = field(
        default=100,
        metadata={"help": "problems (spread over the list) each checkpoint answers greedily, for the solve-rate curve"},
    )
    max_new_tokens: int = field(default=1024, metadata={"help": "longest completion generated"})
    loop_lines: int | None = field(
        default=None,
        metadata={
            "help": "stop a completion once 3 in 4 of its last loop_lines lines each repeat an earlier line of it "
            "(looping: no training record of the cpu size comes near with 16); default: never"
        },
    )
    batch_size: int = field(default=32, metadata={"help": "completions generated together"})
    cache: str = field(
        default="growing",
        metadata={
            "help": "the attention cache while generating: growing (written in place into a buffer doubled when full; "
            "on a CPU 2-4x faster) or dynamic (transformers' own, copied whole at every token; fine on a GPU); the "
            "same tokens either way"
        },
    )
    threads: int | None = field(
        default=None,
        metadata={"help": "torch CPU threads while generating (default: train.threads, else torch's own choice)"},
    )

    def __post_init__(self) -> None:
        if self.sampled_problems is not None and self.sampled_problems < 1:
            raise ValueError(f"sampled_problems must be positive: {self.sampled_problems}")
        if self.cache not in ("growing", "dynamic"):
            raise ValueError(f"cache: expected growing or dynamic, got {self.cache!r}")
        if self.loop_lines is not None and self.loop_lines < 2:
            raise ValueError(f"loop_lines must be at least 2: {self.loop_lines}")
        if self.samples < 0 or self.max_new_tokens < 1 or self.batch_size < 1 or self.temperature <= 0:
            raise ValueError(f"samples >= 0; max_new_tokens, batch_size and temperature > 0: {self}")
