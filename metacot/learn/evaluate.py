"""PLACEHOLDER for the MODEL engineer's module (issue 26): the interface's evaluation call, answering nothing, so
that the experiment runs end to end on the DATA branch; the merge takes the real module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from metacot.problems.countdown import CountdownProblem


@dataclass(frozen=True)
class EvalConfig:
    samples: int = field(default=8, metadata={"help": "sampled answers per problem"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    max_new_tokens: int = field(default=1024, metadata={"help": "generated tokens per answer"})
    batch_size: int = field(default=32, metadata={"help": "prompts per generate call"})


def evaluate(
    model_dir: Path,
    problems: list[CountdownProblem],
    prompts: list[str],
    config: EvalConfig,
    seed: int,
    progress: bool = True,
) -> list[dict]:
    attempt = {"text": "", "tokens": 0, "answer": None, "correct": False, "valid": False, "steps": 0,
               "invalid_reason": "placeholder"}
    return [{"problem_id": p.id, "greedy": attempt, "samples": [attempt] * config.samples} for p in problems]
