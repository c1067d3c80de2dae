"""The Countdown game (and Game of 24): step checking, the exact oracle, generation, loading, answers."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import orjson

from metacot.problems.base import StepOutcome

Move = tuple[int, str, int, int]

_OPS = {"+": "+", "-": "-", "−": "-", "*": "*", "x": "*", "X": "*", "×": "*", "/": "/", "÷": "/"}
_OP_CHARS = re.escape("".join(_OPS))
# Digit runs are capped so int() never meets Python's huge-literal limit; longer runs fail to parse.
_NUMBER = r"[0-9]{1,100}"
_SIMPLE_STEP = re.compile(rf"\s*({_NUMBER})\s*([{_OP_CHARS}])\s*({_NUMBER})\s*=\s*({_NUMBER})\s*\.?\s*")
_TOKEN = re.compile(rf"\s*(?:({_NUMBER})|([{_OP_CHARS}()]))")
_CLAIM = re.compile(rf"\s*([-−]?{_NUMBER})\s*")
_MAX_NESTING = 50
_MAX_DRAWS = 100_000

PROMPT = (
    "Using the numbers {numbers}, create an equation that equals {target}. "
    "You can use basic arithmetic operations (+, -, *, /) and each number can only be used once. "
    "Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, "
    "for example <answer> (1 + 2) / 3 </answer>."
)


@dataclass(frozen=True, slots=True)
class CountdownProblem:
    id: str
    numbers: tuple[int, ...]
    target: int


class StepError(ValueError):
    """An illegal or unparsable step; the message says what is wrong and is shown in search traces."""


class ProblemFileError(ValueError):
    """A malformed problem file; the message starts with 'file:line:'."""


# --- parsing and arithmetic -------------------------------------------------------------------------


def _quote(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _combine(a: int, op: str, b: int) -> int:
    if op == "+":
        return a + b
    if op == "*":
        return a * b
    if op == "-":
        if a < b:
            raise StepError(f"{a} - {b} is {a - b}, which is negative")
        return a - b
    if b == 0:
        raise StepError(f"{a} / 0 is a division by zero")
    if a % b:
        raise StepError(f"{a} / {b} is not a whole number")
    return a // b


def _tokenize(text: str) -> list[int | str]:
    tokens: list[int | str] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise StepError(f"cannot parse {_quote(text)}")
        number, symbol = m.groups()
        tokens.append(int(number) if number else _OPS.get(symbol, symbol))
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent over tokens into postfix: ints are operands, '+-*/' operators."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0
        self.postfix: list[int | str] = []

    def parse(self) -> list[int | str]:
        self.expression()
        if self.pos != len(self.tokens):
            self.fail()
        return self.postfix

    def fail(self) -> None:
        raise StepError(f"cannot parse {_quote(self.text)}")

    def peek(self) -> int | str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expression(self) -> None:
        self.term()
        while self.peek() in ("+", "-"):
            op = self.tokens[self.pos]
            self.pos += 1
            self.term()
            self.postfix.append(op)

    def term(self) -> None:
        self.factor()
        while self.peek() in ("*", "/"):
            op = self.tokens[self.pos]
            self.pos += 1
            self.factor()
            self.postfix.append(op)

    def factor(self) -> None:
        token = self.peek()
        self.pos += 1
        if type(token) is int:
            self.postfix.append(token)
        elif token == "(" and self.depth < _MAX_NESTING:
            self.depth += 1
            self.expression()
            if self.peek() != ")":
                self.fail()
            self.pos += 1
            self.depth -= 1
        else:
            self.fail()


def _evaluate_postfix(postfix: list[int | str]) -> int:
    stack: list[int] = []
    for token in postfix:
        if type(token) is int:
            stack.append(token)
        else:
            b = stack.pop()
            stack.append(_combine(stack.pop(), token, b))
    return stack[0]


def _literals(postfix: list[int | str]) -> list[int]:
    return [t for t in postfix if type(t) is int]


def evaluate_expression(text: str) -> tuple[int, list[int]]:
    """The exact value of an arithmetic expression (no '=') and its number literals in order of appearance."""
    postfix = _Parser(text).parse()
    return _evaluate_postfix(postfix), _literals(postfix)


def _split_step(text: str) -> tuple[str, list[int | str], int]:
    """(expression text, its postfix, the claimed result) of 'expression = result'."""
    body = text.strip()
    if body.endswith("."):
        body = body[:-1]
    left, eq, right = body.partition("=")
    postfix = _Parser(left).parse()
    if not eq or not right.strip():
        raise StepError(f"missing '= result' in {_quote(text)}")
    claim = _CLAIM.fullmatch(right)
    if claim is None:
        raise StepError(f"cannot parse the result {_quote(right)}")
    if len(postfix) == 1:
        raise StepError(f"{_quote(text)} does not combine any numbers")
    return " ".join(left.split()), postfix, int(claim[1].replace("−", "-"))


def _take(state: tuple[int, ...], literals: list[int] | tuple[int, ...]) -> list[int]:
    """The state with the literals removed (first occurrences), or a StepError naming the missing one."""
    rest = list(state)
    for n in literals:
        try:
            rest.remove(n)
        except ValueError:
            raise StepError(_unavailable(n, literals, state)) from None
    return rest


def _unavailable(n: int, literals: list[int] | tuple[int, ...], state: tuple[int, ...]) -> str:
    have = state.count(n)
    if have == 0:
        return f"{n} is not available in {list(state)}"
    times = "once" if have == 1 else f"{have} times"
    return f"{n} is used {literals.count(n)} times but appears only {times} in {list(state)}"


def apply_step(state: tuple[int, ...], text: str) -> tuple[int, ...]:
    """The state after a step like '25 - 19 = 6': used numbers removed, the result appended; or StepError."""
    m = _SIMPLE_STEP.fullmatch(text)
    if m is not None:
        a, op, b, claim = int(m[1]), _OPS[m[2]], int(m[3]), int(m[4])
        rest = _take(state, (a, b))
        value = _combine(a, op, b)
        if value != claim:
            raise StepError(f"{a} {op} {b} is {value}, not {claim}")
    else:
        expression, postfix, claim = _split_step(text)
        rest = _take(state, _literals(postfix))
        value = _evaluate_postfix(postfix)
        if value != claim:
            raise StepError(f"{expression} is {value}, not {claim}")
    rest.append(value)
    return tuple(rest)


# --- moves and the oracle ---------------------------------------------------------------------------


def legal_moves(state: tuple[int, ...]) -> list[Move]:
    """Every (a, op, b, result) over pairs of positions i < j; larger operand first for '-' and '/'."""
    moves: list[Move] = []
    n = len(state)
    for i in range(n):
        a = state[i]
        for j in range(i + 1, n):
            b = state[j]
            hi, lo = (a, b) if a >= b else (b, a)
            moves.append((a, "+", b, a + b))
            moves.append((hi, "-", lo, hi - lo))
            moves.append((a, "*", b, a * b))
            if lo and not hi % lo:
                moves.append((hi, "/", lo, hi // lo))
    return moves


def format_move(move: Move) -> str:
    a, op, b, result = move
    return f"{a} {op} {b} = {result}"


def reachable(state: tuple[int, ...], target: int) -> bool:
    """Whether combining ALL the numbers in the state can give exactly the target (the exact oracle)."""
    n = len(state)
    if n == 1:
        return state[0] == target
    if n == 2:
        return _reach2(state[0], state[1], target)
    if n == 3:
        return _reach3(state[0], state[1], state[2], target)
    return _reachable(tuple(sorted(state)), target)


def _results(a: int, b: int) -> tuple[int, ...]:
    """Every value one legal operation makes of a and b."""
    hi, lo = (a, b) if a >= b else (b, a)
    if lo and not hi % lo:
        return a + b, hi - lo, a * b, hi // lo
    return a + b, hi - lo, a * b


def _reach2(a: int, b: int, target: int) -> bool:
    # a / b == target exactly  <=>  a == target * b (b != 0); the target is never negative.
    return (
        a + b == target
        or a * b == target
        or a - b == target
        or b - a == target
        or (b != 0 and a == target * b)
        or (a != 0 and b == target * a)
    )


def _reach3(a: int, b: int, c: int, target: int) -> bool:
    # Unrolled rather than recursive: the oracle scores every node, so this is the search's hot path.
    for x, y, z in ((a, b, c), (a, c, b), (b, c, a)):
        hi, lo = (x, y) if x >= y else (y, x)
        if (
            _reach2(x + y, z, target)
            or _reach2(hi - lo, z, target)
            or _reach2(x * y, z, target)
            or (lo != 0 and hi % lo == 0 and _reach2(hi // lo, z, target))
        ):
            return True
    return False


@lru_cache(maxsize=2**20)
def _reachable(nums: tuple[int, ...], target: int) -> bool:
    """Four or more numbers, sorted: try every pair and operation, memoized."""
    n = len(nums)
    for i in range(n):
        for j in range(i + 1, n):
            rest = nums[:i] + nums[i + 1 : j] + nums[j + 1 :]
            for r in _results(nums[i], nums[j]):
                if reachable((*rest, r), target):
                    return True
    return False


# --- problem sets -----------------------------------------------------------------------------------


def generate_problems(
    count: int,
    seed: int,
    num_numbers: int = 4,
    low: int = 1,
    high: int = 99,
    target_low: int = 10,
    target_high: int = 100,
    target: int | None = None,
) -> list[CountdownProblem]:
    """Seeded solvable instances: numbers drawn from [low, high], the target from [target_low, target_high]
    unless fixed (target=24 with numbers 1..13 is the Game of 24)."""
    if num_numbers < 1 or low < 0 or low > high:
        raise ValueError(f"need num_numbers >= 1 and 0 <= low <= high, got {num_numbers}, {low}, {high}")
    rng = random.Random(seed)
    return [
        _draw_solvable(rng, f"countdown-{i:06d}", num_numbers, low, high, target_low, target_high, target)
        for i in range(count)
    ]


def _draw_solvable(
    rng: random.Random,
    problem_id: str,
    num_numbers: int,
    low: int,
    high: int,
    target_low: int,
    target_high: int,
    target: int | None,
) -> CountdownProblem:
    for _ in range(_MAX_DRAWS):
        numbers = tuple(rng.randint(low, high) for _ in range(num_numbers))
        goal = target if target is not None else rng.randint(target_low, target_high)
        if reachable(numbers, goal):
            return CountdownProblem(problem_id, numbers, goal)
    raise ValueError(f"no solvable instance in {_MAX_DRAWS} draws: check the number and target ranges")


def problem_from_record(data: object, default_id: str | None = None) -> CountdownProblem:
    """A problem from {"id", "numbers" | "nums", "target"}; ValueError naming the bad field."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    key = "numbers" if "numbers" in data or "nums" not in data else "nums"
    numbers = _field(data, key)
    if not isinstance(numbers, list) or not all(type(n) is int for n in numbers):
        raise ValueError(f"field {key!r} must be a list of integers")
    if not numbers:
        raise ValueError(f"field {key!r} must not be empty")
    if min(numbers) < 0:
        raise ValueError(f"field {key!r} must not contain negative integers")
    target = _field(data, "target")
    if type(target) is not int or target < 0:
        raise ValueError("field 'target' must be a non-negative integer")
    problem_id = data.get("id", default_id)
    if problem_id is None:
        raise ValueError("missing field 'id'")
    if not isinstance(problem_id, str) or not problem_id:
        raise ValueError("field 'id' must be a non-empty string")
    return CountdownProblem(problem_id, tuple(numbers), target)


def _field(data: dict, key: str) -> object:
    if key not in data:
        raise ValueError(f"missing field {key!r}")
    return data[key]


def load_problems(path: str | Path) -> list[CountdownProblem]:
    """Problems from JSONL (blank lines skipped); a ProblemFileError names the file, line and field."""
    path = Path(path)
    problems: list[CountdownProblem] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            problem = problem_from_record(orjson.loads(line), f"{path.stem}-{lineno:06d}")
        except orjson.JSONDecodeError as e:
            raise ProblemFileError(f"{path}:{lineno}: invalid JSON: {e}") from None
        except ValueError as e:
            raise ProblemFileError(f"{path}:{lineno}: {e}") from None
        if problem.id in first_line:
            raise ProblemFileError(
                f"{path}:{lineno}: duplicate id {problem.id!r} (first on line {first_line[problem.id]})"
            )
        first_line[problem.id] = lineno
        problems.append(problem)
    return problems


# --- answers ----------------------------------------------------------------------------------------


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
        claim = _CLAIM.fullmatch(right) if eq else None
        if eq and (claim is None or int(claim[1].replace("−", "-")) != value):
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
        _, postfix, _ = _split_step(step)
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


# --- the domain -------------------------------------------------------------------------------------


class CountdownDomain:
    """Countdown for search: states are tuples of the numbers left, steps are 'a op b = c'."""

    name = "countdown"
    step_delimiter = "\n"

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

    def prompt(self, problem: CountdownProblem) -> str:
        return PROMPT.format(numbers=list(problem.numbers), target=problem.target)

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
