"""Options shared by every trace format."""

from __future__ import annotations

from dataclasses import dataclass, field

from metacot.checks import optional_at_least
from metacot.flags import flag
from metacot.linearize.formats import FORMATS, formats_help
from metacot.linearize.layout import LAYOUT_HELP, LAYOUTS, PROMPT_COMPLETION, check_layout

FORMATS_HELP = formats_help()


@dataclass
class LinearizeConfig:
    formats: list[str] | None = flag(FORMATS_HELP, None)  # None: every format the domain writes but those on request
    stop_at_first_solution: bool = field(
        default=True, metadata={"help": "end the trace at the first verified solution it reaches"}
    )
    max_backtracks: int | None = field(default=None, metadata={"help": "skip traces with more backtracks than this"})
    include_unsolved: bool = field(
        default=False, metadata={"help": "also write records for searches that found no solution"}
    )
    value_lines: bool = field(
        default=False,
        metadata={"help": "metacot format: \"Value: 0.83\" after each step, the value the search held (the Meta-CoT "
                          "paper's style)"},
    )
    plans: bool = field(
        default=False,
        metadata={"help": "metacot format (and cot): subgoals and backward chains woven from the path the trace then "
                          "takes, each pursued by the steps after it (numbers and a target: Countdown)"},
    )
    think_tags: bool = field(
        default=True,
        metadata={"help": "<think> ... </think> <answer> ... </answer>; false: \"Answer: ...\" (the prompt says "
                          "which)"},
    )
    record_layout: str = flag(LAYOUT_HELP, PROMPT_COMPLETION, choices=lambda: LAYOUTS)

    def __post_init__(self) -> None:
        if self.formats is not None and (not self.formats or not all(name.strip() for name in self.formats)):
            raise ValueError(f"formats: expected one or more format names ({', '.join(FORMATS)}), got {self.formats!r}")
        optional_at_least("max_backtracks", self.max_backtracks, 0)
        check_layout(self.record_layout)
