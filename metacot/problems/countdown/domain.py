"""The Countdown domain for search: prompts, step outcomes, the words of traces, and answer checks."""

from __future__ import annotations

from metacot.problems.base import StepError, StepOutcome
from metacot.problems.countdown.data import CountdownConfig, CountdownProblem, problem_from_record
from metacot.problems.countdown.parse import apply_step, evaluate_expression, parse_claim, split_step

PROMPT = (
    "Using the numbers {numbers}, create an equation that equals {target}. "
    "You can use basic arithmetic operations (+, -, *, /) and each number can only be used once. "
    "Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, "
    "for example <answer> (1 + 2) / 3 </answer>."
)


def verify_answer(problem: CountdownProblem, expression: str) -> bool:
    """Whether the expression (optionally '... = target') uses each number once and hits the target."""
    if not isinstance(expression, str):
        return False
    body = expression.strip()
    if body.endswith("."):
        body = body[:-1]
    left, eq, right = body.partition("=")
    try:
        value, literals = evaluate_expression(left)
        if eq and parse_claim(right) != value:
            return False
    except StepError:
        return False
    return value == problem.target and sorted(literals) == sorted(problem.numbers)


def solution_expression(numbers: tuple[int, ...] | list[int], steps: list[str]) -> str:
    """One expression equivalent to a sequence of steps that reduces the numbers to a single one."""
    state = tuple(numbers)
    expressions = [str(n) for n in numbers]  # what produced each number in the state, position by position
    for step in steps:
        new_state = apply_step(state, step)
        _, postfix, _ = split_step(step)
        values = list(state)
        stack: list[str] = []
        for token in postfix:
            if type(token) is int:
                k = values.index(token)
                del values[k]
                stack.append(expressions.pop(k))
            else:
                right = stack.pop()
                stack.append(f"{_wrap(stack.pop())} {token} {_wrap(right)}")
        expressions.append(stack[0])
        state = new_state
    if len(state) != 1:
        raise ValueError(f"the steps leave {list(state)}, not a single number")
    return expressions[0]


def _wrap(expression: str) -> str:
    return f"({expression})" if " " in expression else expression


class CountdownDomain:
    """Countdown for search: states are tuples of the numbers left, steps are 'a op b = c'."""

    name = "countdown"
    step_delimiter = "\n"

    @classmethod
    def from_config(cls, section: CountdownConfig) -> CountdownDomain:
        """The domain; its section only says how problems are generated, which does not change the rules."""
        return cls()

    def problem_from_dict(self, data: dict) -> CountdownProblem:
        return problem_from_record(data)

    def problem_to_dict(self, problem: CountdownProblem) -> dict:
        return {"id": problem.id, "numbers": list(problem.numbers), "target": problem.target}

    def root_state(self, problem: CountdownProblem) -> tuple[int, ...]:
        return tuple(problem.numbers)

    def apply_step(self, problem: CountdownProblem, state: tuple[int, ...], step: str) -> StepOutcome:
        try:
            new_state = apply_step(tuple(state), step)
        except StepError as e:
            return StepOutcome(state=None, terminal=True, correct=False, error=str(e))
        if len(new_state) == 1:
            return StepOutcome(state=new_state, terminal=True, correct=new_state[0] == problem.target)
        return StepOutcome(state=new_state)

    def prompt(self, problem: CountdownProblem, think_tags: bool = True) -> str:
        return PROMPT.format(numbers=list(problem.numbers), target=problem.target)

    def state_key(self, state: tuple[int, ...]) -> tuple[int, ...]:
        """The numbers left, in any order: the same position whichever steps made them."""
        return tuple(sorted(state))

    def describe_state(self, problem: CountdownProblem, state: tuple[int, ...]) -> str:
        return str(list(state))

    def step_note(self, problem: CountdownProblem, state: tuple[int, ...]) -> str:
        return f"Now I have {list(state)}."

    def verdict(self, problem: CountdownProblem, state: tuple[int, ...], correct: bool) -> str:
        if len(state) != 1:
            return f"{list(state)} cannot make {problem.target}."
        if correct:
            return f"{state[0]} = {problem.target}, the target."
        return f"{state[0]} is not {problem.target}."

    def final_answer(self, problem: CountdownProblem, steps: list[str]) -> str:
        return solution_expression(problem.numbers, steps)

    def check_answer(self, problem: CountdownProblem, answer: str) -> bool:
        return verify_answer(problem, answer)
