"""Countdown steps and expressions: a tokenizer and recursive-descent parser with exact integer arithmetic (no eval)."""

from __future__ import annotations

import re

from metacot.problems.base import StepError

_OPS = {"+": "+", "-": "-", "−": "-", "*": "*", "x": "*", "X": "*", "×": "*", "/": "/", "÷": "/"}
_OP_CHARS = re.escape("".join(_OPS))
# Digit runs are capped so int() never meets Python's huge-literal limit; longer runs fail to parse.
_NUMBER = r"[0-9]{1,100}"
_SIMPLE_STEP = re.compile(rf"\s*({_NUMBER})\s*([{_OP_CHARS}])\s*({_NUMBER})\s*=\s*({_NUMBER})\s*\.?\s*")
_TOKEN = re.compile(rf"\s*(?:({_NUMBER})|([{_OP_CHARS}()]))")
_CLAIM = re.compile(rf"\s*([-−]?{_NUMBER})\s*")
_MAX_NESTING = 50


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
            stack.append(_combine(stack.pop(), str(token), b))
    return stack[0]


def _literals(postfix: list[int | str]) -> list[int]:
    return [t for t in postfix if type(t) is int]


def evaluate_expression(text: str) -> tuple[int, list[int]]:
    """The exact value of an arithmetic expression (no '=') and its number literals in order of appearance."""
    postfix = _Parser(text).parse()
    return _evaluate_postfix(postfix), _literals(postfix)


def parse_claim(text: str) -> int | None:
    """The integer on the right of '=' (a leading minus allowed), or None when it is not one."""
    claim = _CLAIM.fullmatch(text)
    return None if claim is None else int(claim[1].replace("−", "-"))


def split_step(text: str) -> tuple[str, list[int | str], int]:
    """(expression text, its postfix, the claimed result) of 'expression = result'."""
    body = text.strip()
    if body.endswith("."):
        body = body[:-1]
    left, eq, right = body.partition("=")
    postfix = _Parser(left).parse()
    if not eq or not right.strip():
        raise StepError(f"missing '= result' in {_quote(text)}")
    claim = parse_claim(right)
    if claim is None:
        raise StepError(f"cannot parse the result {_quote(right)}")
    if len(postfix) == 1:
        raise StepError(f"{_quote(text)} does not combine any numbers")
    return " ".join(left.split()), postfix, claim


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
        expression, postfix, claim = split_step(text)
        rest = _take(state, _literals(postfix))
        value = _evaluate_postfix(postfix)
        if value != claim:
            raise StepError(f"{expression} is {value}, not {claim}")
    rest.append(value)
    return tuple(rest)
