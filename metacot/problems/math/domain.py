"""Math word problems for search: free-text steps from an LLM, a final answer in \\boxed{} checked by math-verify.

States are small JSON objects. {"step": k} is the state after k steps without a final answer (the root is
{"step": 0}); {"answer": "..."} is the state after a step that gives one. A terminal state holds the answer alone,
so two chains that reach the same answer end in equal states (best-of-n's majority vote compares states).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metacot.checks import at_least
from metacot.flags import flag
from metacot.problems.base import StepOutcome
from metacot.problems.math.answers import MAX_ANSWER_CHARS, check, extract_answer
from metacot.problems.math.schema import PRESETS
from metacot.problems.verdicts import Verdict, kept

PROMPT = (
    "{question}\n\n"
    "Solve the problem step by step. Separate the steps with a blank line, "
    "and put the final answer in \\boxed{{}}."
)
PROMPT_TAGS = (
    "{question}\n\n"
    "Solve the problem step by step, separating the steps with a blank line. Show your reasoning in <think> </think> "
    "tags, and give the final answer in \\boxed{{}} inside <answer> </answer> tags, "
    "for example <answer> \\boxed{{42}} </answer>."
)
DEFAULT_MAX_DEPTH = 20
LEVELS = (1, 2, 3)  # the difficulty levels of generated problems


@dataclass(frozen=True, slots=True)
class MathProblem:
    id: str
    question: str
    answer: str  # the gold answer: a number, expression, interval, set ... as LaTeX or plain text
    meta: dict = field(default_factory=dict)  # what the source says besides (level, type, source, solve rate ...)


@dataclass
class MathConfig:
    """[problems.math]: how files and datasets are read, how problems are generated, how long a solution may be."""

    # field names: detected when unambiguous (question | problem, answer | solution's \boxed{}, id), or a preset
    # ("generic", "math", "gsm8k", "bigmath"); fields given here win over both
    preset: str | None = flag(
        "math: the file's field names (default: detected)", None, name="--schema", choices=lambda: PRESETS
    )
    question_field: str | None = field(
        default=None,
        metadata={"help": "the record field holding the question; wins over the preset and over detection"},
    )
    answer_field: str | None = field(
        default=None,
        metadata={"help": "the record field holding the gold answer; wins over the preset and over detection"},
    )
    id_field: str | None = field(
        default=None, metadata={"help": "the record field holding the problem id (default: a hash of the question)"}
    )
    solve_rate: list[float] | None = field(
        default=None,
        metadata={"help": "[low, high]: keep problems whose solve rate lies in the band (Big-MATH's "
                          "llama8b_solve_rate)"},
    )
    skip_invalid: bool = field(
        default=False, metadata={"help": "leave out records without a question or answer (logged) instead of stopping"}
    )
    max_depth: int = field(
        default=DEFAULT_MAX_DEPTH,
        metadata={"help": "the most steps a solution may take; a branch that reaches it without an answer is dead"},
    )
    levels: list[int] = field(
        default_factory=lambda: [1, 2, 3], metadata={"help": "difficulty levels (1, 2, 3) of generated problems"}
    )

    def __post_init__(self) -> None:
        at_least("max_depth", self.max_depth, 1)
        if not self.levels or any(type(level) is not int or level not in LEVELS for level in self.levels):
            known = ", ".join(map(str, LEVELS))
            raise ValueError(f"levels: expected a non-empty list of levels from {known}, got {self.levels!r}")
        if self.solve_rate is not None and (
            len(self.solve_rate) != 2 or not 0 <= self.solve_rate[0] <= self.solve_rate[1] <= 1
        ):
            raise ValueError(f"solve_rate: expected [low, high] with 0 <= low <= high <= 1, got {self.solve_rate!r}")


def problem_from_record(data: object) -> MathProblem:
    """A problem from {"id", "question", "answer", "meta"?}; ValueError naming the bad field."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    for key in ("id", "question", "answer"):
        if key not in data:
            raise ValueError(f"missing field {key!r}")
        if not isinstance(data[key], str) or not data[key].strip():
            raise ValueError(f"field {key!r} must be a non-empty string")
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError("field 'meta' must be an object")
    return MathProblem(data["id"], data["question"], data["answer"], meta)


class MathDomain:
    """Math for search: a step is a paragraph of reasoning; the step that gives a final answer ends the search."""

    name = "math"
    step_delimiter = "\n\n"
    numbers_to_target = False

    def __init__(self, max_depth: int = DEFAULT_MAX_DEPTH):
        if max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {max_depth}")
        self.max_depth = max_depth

    @classmethod
    def from_config(cls, section: MathConfig) -> MathDomain:
        return cls(max_depth=section.max_depth)

    def problem_from_dict(self, data: dict) -> MathProblem:
        return problem_from_record(data)

    def problem_to_dict(self, problem: MathProblem) -> dict:
        return {"id": problem.id, "question": problem.question, "answer": problem.answer, "meta": problem.meta}

    def root_state(self, problem: MathProblem) -> dict:
        return {"step": 0}

    def apply_step(self, problem: MathProblem, state: dict, step: str) -> StepOutcome:
        if not step.strip():
            return StepOutcome(state=None, terminal=True, correct=False, error="empty step")
        steps = state["step"] + 1
        answer = extract_answer(step)
        if answer is not None:
            if len(answer) > MAX_ANSWER_CHARS:
                error = f"the answer is {len(answer)} characters long"
                return StepOutcome(state=None, terminal=True, correct=False, error=error)
            return StepOutcome(state={"answer": answer}, terminal=True, correct=self.judge(problem, answer))
        if steps >= self.max_depth:
            error = f"no final answer after {steps} steps"
            return StepOutcome(state=None, terminal=True, correct=False, error=error)
        return StepOutcome(state={"step": steps})

    def prompt(self, problem: MathProblem, think_tags: bool = True) -> str:
        return (PROMPT_TAGS if think_tags else PROMPT).format(question=problem.question)

    def state_key(self, state: dict) -> None:
        """None: two paths with the same step count are different reasoning, not one position."""
        return None

    def legal_steps(self, problem: MathProblem, state: dict) -> None:
        return None  # a step is free text: there is no list of them

    def describe_state(self, problem: MathProblem, state: dict) -> str:
        return f"step {state['step']}" if state["step"] else "the beginning"

    def step_note(self, problem: MathProblem, state: dict) -> str:
        return ""

    def goal(self, problem: MathProblem) -> str:
        return "give a correct answer"

    def verdict(self, problem: MathProblem, state: dict, correct: bool | None) -> str:
        if correct is None:
            return f"I could not decide whether the answer {state['answer']} is correct."
        if correct:
            return f"The answer {state['answer']} is correct."
        return f"The answer {state['answer']} does not check out."

    def first_mistake(self, problem: MathProblem, steps: list[str]) -> None:
        """None: a math step states no result that can be recomputed; only the final answer is checked."""
        return None

    def correct_step(self, problem: MathProblem, state: dict, step: str) -> None:
        """None: a free-text step has no result the domain can recompute (a slip is never corrected)."""
        return None

    def reachable(self, problem: MathProblem, state: dict) -> None:
        """None: whether a free-text step can still lead to a correct answer is not decidable; only a final answer
        is checked."""
        return None

    def final_answer(self, problem: MathProblem, steps: list[str]) -> str:
        answer = extract_answer(steps[-1]) if steps else None
        if answer is None:
            raise ValueError("the last step gives no final answer")
        return f"\\boxed{{{answer}}}"

    def check_answer(self, problem: MathProblem, answer: str) -> bool:
        if not isinstance(answer, str):
            return False
        extracted = extract_answer(answer)
        return self.judge(problem, extracted if extracted is not None else answer) is True

    def judge(self, problem: MathProblem, answer: str) -> Verdict:
        """The check of an extracted answer against the gold one (None: undecided), kept in the tree worked on."""
        return kept(answer, lambda: check(answer, problem.answer))
