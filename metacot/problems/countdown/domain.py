"""The Countdown domain for search: prompts, step outcomes, the words of traces, and answer checks."""

from __future__ import annotations

from fractions import Fraction

from metacot.problems.base import StepError, StepOutcome
from metacot.problems.countdown.data import NOTICE, CountdownConfig, CountdownProblem, problem_from_record
from metacot.problems.countdown.features import countdown_features
from metacot.problems.countdown.oracle import Move, format_move, reachable, sos_listing
from metacot.problems.countdown.parse import (
    Number,
    apply_step,
    claimed_move,
    claimed_step,
    corrected_step,
    evaluate_expression,
    exact,
    format_state,
    parse_claim,
    read_step,
    to_number,
)

# TinyZero's Countdown prompt, with the rules the verifier applies stated; {answer_format} follows think_tags.
PROMPT = (
    "Using the numbers {numbers}, create an equation that equals {target}. "
    "You can use basic arithmetic operations (+, -, *, /) and each number must be used exactly once. "
    "The arithmetic is exact: results in between may be fractions or negative. "
    "{answer_format}"
)
TAGS_FORMAT = (
    "Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, "
    "for example <answer> (1 + 2) / 3 </answer>."
)
PLAIN_FORMAT = "Show your work, then give the final answer on a last line, for example Answer: (1 + 2) / 3"


def answer_error(problem: CountdownProblem, expression: object) -> str | None:
    """Why the expression (optionally '... = target') is not a correct answer, or None when it is: it must use each
    given number exactly once and reach the target with exact arithmetic (fractions and negatives in between)."""
    if not isinstance(expression, str):
        return "the answer is not text"
    body = expression.strip()
    if body.endswith("."):
        body = body[:-1]
    left, eq, right = body.partition("=")
    try:
        value, used = evaluate_expression(left)
    except StepError as error:
        return str(error)
    if eq and parse_claim(right) != value:
        return f"{' '.join(left.split())} is {to_number(value)}, not {right.strip()}"
    if sorted(used) != sorted(problem.numbers):
        return f"it uses {format_state(sorted(used))}, not each of {format_state(sorted(problem.numbers))} once"
    if value != problem.target:
        return f"it makes {to_number(value)}, not {problem.target}"
    return None


def verify_answer(problem: CountdownProblem, expression: object) -> bool:
    """Whether the expression is a correct answer (see answer_error)."""
    return answer_error(problem, expression) is None


def solution_expression(numbers: tuple[int, ...] | list[int], steps: list[str]) -> str:
    """One expression equivalent to a sequence of steps that reduces the numbers to a single one."""
    state: tuple[Number, ...] = tuple(numbers)
    expressions = [str(n) for n in numbers]  # what produced each number in the state, position by position
    for step in steps:
        _, postfix, _, _ = read_step(state, step)
        values = [exact(n) for n in state]
        stack: list[str] = []
        for token in postfix:
            if isinstance(token, Fraction):
                k = values.index(token)
                del values[k]
                stack.append(expressions.pop(k))
            else:
                right = stack.pop()
                stack.append(f"{_wrap(stack.pop())} {token} {_wrap(right)}")
        expressions.append(stack[0])
        state = apply_step(state, step)
    if len(state) != 1:
        raise ValueError(f"the steps leave {format_state(state)}, not a single number")
    return expressions[0]


def _wrap(expression: str) -> str:
    return f"({expression})" if " " in expression else expression


class CountdownDomain:
    """Countdown for search: states are tuples of the numbers left (ints, "p/q" for fractions), steps 'a op b = c'."""

    name = "countdown"
    step_delimiter = "\n"
    numbers_to_target = True

    def __init__(self, notice: str = "immediate"):
        if notice not in NOTICE:
            raise ValueError(f"problems.countdown.notice: expected one of {', '.join(NOTICE)}, got {notice!r}")
        self.notice = notice

    @classmethod
    def from_config(cls, section: CountdownConfig) -> CountdownDomain:
        """The domain with its rule for wrong step results (notice); the rest of the section says how problems
        are generated, which does not change the rules."""
        return cls(notice=section.notice)

    def problem_from_dict(self, data: dict) -> CountdownProblem:
        return problem_from_record(data)

    def problem_to_dict(self, problem: CountdownProblem) -> dict:
        return {"id": problem.id, "numbers": list(problem.numbers), "target": problem.target}

    def root_state(self, problem: CountdownProblem) -> tuple[Number, ...]:
        return tuple(problem.numbers)

    def apply_step(self, problem: CountdownProblem, state: tuple[Number, ...], step: str) -> StepOutcome:
        """immediate: a wrong result is a dead node. when-found: a well-formed step with a wrong result is taken at
        face value (its `slip` says what is true), and only a path's verification (first_mistake) finds it."""
        try:
            if self.notice == "immediate":
                new_state, slip = apply_step(tuple(state), step), None
            else:
                new_state, slip = claimed_step(tuple(state), step)
        except StepError as e:
            return StepOutcome(state=None, terminal=True, correct=False, error=str(e))
        return self._outcome(problem, new_state, slip)

    def apply_move(self, problem: CountdownProblem, state: tuple[Number, ...], step: str, move: Move) -> StepOutcome:
        """apply_step for a step a policy wrote from a move (Proposal.move): the same outcome, without reading the
        text where the move says it all (search.expand.grow asks for it when a proposal carries a move)."""
        claimed = claimed_move(state, move)
        if claimed is None:
            return self.apply_step(problem, state, step)
        new_state, slip = claimed
        if slip is not None and self.notice == "immediate":
            return StepOutcome(state=None, terminal=True, correct=False, error=slip)
        return self._outcome(problem, new_state, slip)

    @staticmethod
    def _outcome(problem: CountdownProblem, new_state: tuple[Number, ...], slip: str | None) -> StepOutcome:
        if len(new_state) == 1:
            correct = slip is None and new_state[0] == problem.target
            return StepOutcome(state=new_state, terminal=True, correct=correct, slip=slip)
        return StepOutcome(state=new_state, slip=slip)

    def legal_steps(self, problem: CountdownProblem, state: tuple[Number, ...]) -> list[str]:
        """The stream-of-search moves (whole, non-negative results) in its generator's order (oracle.sos_listing).
        The rules allow more (fractions, negatives), which a search may take besides."""
        return [format_move(move) for move in sos_listing(state)]

    def first_mistake(self, problem: CountdownProblem, steps: list[str]) -> tuple[int, str] | None:
        """The first step of a path from the root whose result is wrong, recomputed exactly, and why."""
        state: tuple[Number, ...] = tuple(problem.numbers)
        for index, step in enumerate(steps):
            try:
                state, slip = claimed_step(state, step)
            except StepError as e:
                return index, str(e)
            if slip is not None:
                return index, slip
        return None

    def correct_step(self, problem: CountdownProblem, state: tuple[Number, ...], step: str) -> str | None:
        """The step with its exact result in place of a wrong one ("19 - 4 = 13" -> "19 - 4 = 15"), written as its
        slip words the expression; None for a right or illegal step."""
        return corrected_step(tuple(state), step)

    def reachable(self, problem: CountdownProblem, state: tuple[Number, ...]) -> bool:
        """The exact oracle under every move the verifier accepts (fractions, negatives): whether the numbers left
        can still make the target."""
        return reachable(state, problem.target, "all")

    def prompt(self, problem: CountdownProblem, think_tags: bool = True) -> str:
        answer_format = TAGS_FORMAT if think_tags else PLAIN_FORMAT
        return PROMPT.format(numbers=list(problem.numbers), target=problem.target, answer_format=answer_format)

    def state_key(self, state: tuple[Number, ...]) -> tuple[Fraction, ...]:
        """The exact values left, in any order: the same position whichever steps made them."""
        return tuple(sorted(exact(n) for n in state))

    def describe_state(self, problem: CountdownProblem, state: tuple[Number, ...]) -> str:
        return format_state(state)

    def step_note(self, problem: CountdownProblem, state: tuple[Number, ...]) -> str:
        return f"Now I have {format_state(state)}."

    def goal(self, problem: CountdownProblem) -> str:
        return f"reach {problem.target}"

    def verdict(self, problem: CountdownProblem, state: tuple[Number, ...], correct: bool | None) -> str:
        if len(state) != 1:
            return f"{format_state(state)} cannot make {problem.target}."
        if correct:
            return f"{state[0]} = {problem.target}, the target."
        return f"{state[0]} is not {problem.target}."

    def final_answer(self, problem: CountdownProblem, steps: list[str]) -> str:
        return solution_expression(problem.numbers, steps)

    def check_answer(self, problem: CountdownProblem, answer: str) -> bool:
        return verify_answer(problem, answer)

    def features(self, problem: CountdownProblem) -> dict[str, str]:
        """What the problem offers a behaviour, tag -> a sentence on its numbers (features.countdown_features): what
        behaviours are retrieved by (behaviors.retrieve = "features")."""
        return countdown_features(problem.numbers, problem.target)
