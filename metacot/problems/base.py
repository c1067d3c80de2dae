"""The Domain protocol, a domain's registry entry (DomainSpec), and the errors every domain shares."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import orjson


class StepError(ValueError):
    """An illegal or unparsable step; the message says what is wrong and is shown in search traces."""


class ProblemFileError(ValueError):
    """A malformed problem file or dataset; the message starts with where: 'file:line:', 'file[index]:'."""


@dataclass(slots=True)
class StepOutcome:
    """The result of applying one proposed step to a state."""

    state: Any
    terminal: bool = False
    correct: bool | None = None  # set for terminal steps: verified against the answer (None: undecided)
    error: str | None = None  # set when the step is illegal or unparsable: the node is dead
    # set when the step's stated result is wrong but taken at face value (the state holds the claimed result): what
    # is true ("12 + 5 is 17, not 18"); the node lives on until a verification finds it (Domain.first_mistake)
    slip: str | None = None


class Domain(Protocol):
    """A problem family: prompts, step semantics, the verifier, and the words a trace uses for states."""

    name: str
    step_delimiter: str  # what ends a step in a policy's text: "\n" for Countdown, "\n\n" for math
    # States are numbers combined toward the problem's `target` (Countdown): what a stream-of-search log, the priming
    # habits that need the target's arithmetic (subgoals, backward chains), closeness to the target and a problem's
    # size (its numbers) are written in. False: none of these apply.
    numbers_to_target: bool

    def problem_from_dict(self, data: dict) -> Any: ...

    def problem_to_dict(self, problem: Any) -> dict: ...

    def root_state(self, problem: Any) -> Any: ...

    def apply_step(self, problem: Any, state: Any, step: str) -> StepOutcome: ...

    def prompt(self, problem: Any, think_tags: bool = True) -> str:
        """The user prompt. think_tags: it asks for <think> </think> and <answer> </answer>, as the records that
        carry it answer; False: for records that end with "Answer: ..." instead."""
        ...

    def legal_steps(self, problem: Any, state: Any) -> list[str] | None:
        """Every step a search log lists from the state, in its order (Countdown: Stream of Search's operations);
        None: the steps cannot be listed (math: a step is free text)."""
        ...

    def state_key(self, state: Any) -> Hashable | None:
        """A key equal for states that are the same position however they were reached (transpositions, which the
        tree searches merge: search.protocol.Transpositions); None: states are never taken for each other."""
        ...

    def describe_state(self, problem: Any, state: Any) -> str:
        """The state as a backtrack names it: "Let me go back to <this> and try something else."."""
        ...

    def goal(self, problem: Any) -> str:
        """What reaching a solution means, as the verb phrase a trace completes: "reach 33", "give a correct
        answer"."""
        ...

    def step_note(self, problem: Any, state: Any) -> str:
        """What a trace says after a step that did not end the search ("Now I have [21, 16, 6]."), or ""."""
        ...

    def verdict(self, problem: Any, state: Any, correct: bool | None) -> str:
        """What a trace says after a terminal step: the check against the goal (None: the check could not decide,
        which the words must not call right or wrong)."""
        ...

    def first_mistake(self, problem: Any, steps: list[str]) -> tuple[int, str] | None:
        """The verification of a whole path from the root: the index of its first wrong step and why, or None. It
        finds the mistakes apply_step took at face value (StepOutcome.slip); None where steps are not checked."""
        ...

    def correct_step(self, problem: Any, state: Any, step: str) -> str | None:
        """A step whose stated result is wrong (a slip), with the domain's result in its place: the same operation,
        on the same state ("19 - 4 = 13" -> "19 - 4 = 15"); None for a right step, an illegal one, or where the domain
        cannot compute a correction (math)."""
        ...

    def reachable(self, problem: Any, state: Any) -> bool | None:
        """Whether a solution can still be reached from the state (taken as true: a path with a wrong step is
        first_mistake's question), decided exactly; None where the domain cannot decide (math: only a final answer
        is checked). What label and pair exports are measured against (outputs.truth)."""
        ...

    def final_answer(self, problem: Any, steps: list[str]) -> str: ...

    def check_answer(self, problem: Any, answer: str) -> bool: ...


class SourceSettings(Protocol):
    """Where a domain's problems come from: the settings of the [problems] table a domain's source reads."""

    file: str | None  # None: generate problems
    dataset: str | None
    split: str
    num_problems: int  # how many to generate


class Drawer(Protocol):
    """A generator of `count` problems from one random stream: problem i is drawn after problems 0 .. i - 1, so it
    cannot be made without them, or without the stream's state after them."""

    @property
    def count(self) -> int: ...

    @property
    def seed(self) -> int: ...

    @property
    def key(self) -> str:
        """Names what decides the draws (the seed and the settings): a saved state of another key is not used."""
        ...

    def problem_id(self, index: int) -> str: ...

    def draw(self, rng: random.Random, index: int) -> Any: ...


Section = TypeVar("Section")


@dataclass(frozen=True)
class DomainSpec(Generic[Section]):
    """What the registry knows of a domain: how its config section builds it, and where its problems come from."""

    build: Callable[[Section], Domain]  # the domain, configured by its section
    # (the [problems] table, its section, the run seed) -> every problem of a file, a dataset or the generator, in
    # order: best an iterator that makes each when asked (a list is held whole)
    problems: Callable[[SourceSettings, Section, int], Iterable[Any]]
    # (the [problems] table, its section, the run seed) -> the generator behind `problems` when it generates (no
    # file or dataset) from one random stream, so that a resumed run skips finished problems without drawing them
    # (problems.draws); None: a resume makes the finished problems again and skips them
    drawer: Callable[[SourceSettings, Section, int], Drawer] | None = None


def problem_digest(problem: Any) -> str:
    """A digest of a problem's content (every field)."""
    return hashlib.sha256(orjson.dumps(problem, default=str)).hexdigest()[:16]
