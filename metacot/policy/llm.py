"""What every LLM policy shares: its sampling settings checked, its completions normalized, rollouts split."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from metacot.policy.base import Proposal
from metacot.policy.config import SamplingConfig
from metacot.problems.base import Domain

C = TypeVar("C", bound=SamplingConfig)
TEXT_ONLY_DELIMITER = "\n"  # a text-only backend's: it ends no step, as none is proposed


def sampling_config(config: C, domain: Domain | None, section: str) -> tuple[C, str]:
    """(the config with the domain's step delimiter filled in, that delimiter); a ValueError names a sampling
    setting it cannot use. Without a domain (a backend built to generate text only: a judge, a reflection) steps
    are never proposed, and the delimiter is the section's own or TEXT_ONLY_DELIMITER."""
    if config.step_delimiter is not None:
        delimiter = config.step_delimiter
    else:
        delimiter = domain.step_delimiter if domain is not None else TEXT_ONLY_DELIMITER
    try:
        config = replace(config, step_delimiter=delimiter)  # the section's checks run again on what was set since
    except ValueError as error:
        raise ValueError(f"{section}.{error}") from None
    if not delimiter:
        raise ValueError(f"{section}.step_delimiter: must not be empty")
    return config, delimiter


def split_steps(text: str, delimiter: str) -> list[str]:
    """A rollout's text as its steps, as the transformers policy splits them."""
    return [step.strip() for step in text.split(delimiter) if step.strip()]


def proposal(text: str, tokens: int, logprob: float | None, finish_reason: str | None, section: str) -> Proposal:
    """One completion as a Proposal. The engine has already cut the text before the stop string (the delimiter);
    "stop" also covers an end-of-sequence token. Any other reason (an aborted request) is an error.

    The text is stripped, as the transformers policy does: children's prompts must extend their parents' token
    for token, and whitespace before the delimiter tokenizes differently once a prompt continues after it.
    """
    if finish_reason not in ("stop", "length"):
        raise RuntimeError(f"{section}: a completion ended with finish_reason {finish_reason!r}")
    return Proposal(text=text.strip(), tokens=tokens, logprob=logprob, finish_reason=finish_reason)


def cut_off(n: int) -> list[Proposal]:
    """n steps cut off before their first token: what a prompt that fills the context gets."""
    return [Proposal(text="", tokens=0, finish_reason="length") for _ in range(n)]
