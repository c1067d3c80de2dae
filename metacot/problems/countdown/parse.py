"""Countdown numbers, steps and expressions: a tokenizer and recursive-descent parser with exact rational arithmetic
(no eval).

A state holds the numbers left. Whole numbers are ints; any other exact value is the string "p/q" in lowest terms
("8/3", "-1/3"), so states stay JSON-serializable and read back unchanged. Negative whole numbers are ints (-5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fractions import Fraction

from metacot.problems.base import StepError

Number = int | str  # a number of a state: an int, or "p/q" for a value that is not whole
Token = Fraction | str  # postfix: operands are exact values, operators '+-*/'

_OPS = {"+": "+", "-": "-", "−": "-", "*": "*", "x": "*", "X": "*", "×": "*", "/": "/", "÷": "/"}
_OP_CHARS = re.escape("".join(_OPS))
# Digit runs are capped so int() never meets Python's huge-literal limit; longer runs fail to parse.
_NUMBER = r"[0-9]{1,100}"
# A number as a step names it: "8", "-5", "8/3" (a fraction has no spaces around its slash; " / " divides),
# or any of these in parentheses, where the slash may have spaces: "(-5)", "(8 / 3)".
_VALUE = rf"[-−]?{_NUMBER}(?:/{_NUMBER})?|\(\s*[-−]?{_NUMBER}(?:\s*/\s*{_NUMBER})?\s*\)"
_SIMPLE_STEP = re.compile(rf"\s*({_VALUE})\s*([{_OP_CHARS}])\s*({_VALUE})\s*=\s*(.*?)\s*\.?\s*")
_TOKEN = re.compile(rf"\s*(?:({_NUMBER})|([{_OP_CHARS}()]))")
_CLAIM = re.compile(rf"\s*([-−]?{_NUMBER}(?:\s*/\s*{_NUMBER})?|\(\s*[-−]?{_NUMBER}(?:\s*/\s*{_NUMBER})?\s*\))\s*")
_MAX_NESTING = 50


def exact(number: Number | Fraction) -> Fraction:
    """The exact value of a state's number (an int or "p/q"); a StepError for anything else."""
    if isinstance(number, Fraction):
        return number
    if type(number) is int:
        return Fraction(number)
    try:
        return Fraction(str(number).replace("−", "-"))
    except (ValueError, ZeroDivisionError):
        raise StepError(f"{number!r} is not a number") from None


def to_number(value: Fraction) -> Number:
    """A value as a state holds it: an int when whole, else "p/q" in lowest terms."""
    return value.numerator if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def format_state(state: Iterable[Number | Fraction]) -> str:
    """The numbers as a trace writes them: "[21, 8/3, -5]"."""
    return "[" + ", ".join(str(n) if type(n) is int else str(to_number(exact(n))) for n in state) + "]"


def _quote(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _value_text(text: str) -> Fraction:
    """The value of a number written as _VALUE or _CLAIM matches it."""
    body = re.sub(r"[\s()]", "", text).replace("−", "-")
    try:
        return Fraction(body)
    except ZeroDivisionError:
        raise StepError(f"{body} is a division by zero") from None


def _combine(a: Fraction, op: str, b: Fraction) -> Fraction:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise StepError(f"{to_number(a)} / 0 is a division by zero")
    return a / b


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise StepError(f"cannot parse {_quote(text)}")
        number, symbol = m.groups()
        tokens.append(Fraction(int(number)) if number else _OPS.get(symbol, symbol))
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent over tokens into postfix: Fractions are operands, '+-*/' operators."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0
        self.postfix: list[Token] = []

    def parse(self) -> list[Token]:
        self.expression()
        if self.pos != len(self.tokens):
            self.fail()
        return self.postfix

    def fail(self) -> None:
        raise StepError(f"cannot parse {_quote(self.text)}")

    def peek(self) -> Token | None:
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
        if isinstance(token, Fraction):
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


def _evaluate_postfix(postfix: list[Token]) -> Fraction:
    stack: list[Fraction] = []
    for token in postfix:
        if isinstance(token, Fraction):
            stack.append(token)
        else:
            b = stack.pop()
            stack.append(_combine(stack.pop(), token, b))
    return stack[0]


def operands(postfix: list[Token]) -> list[Fraction]:
    """The numbers a postfix expression uses, in order of appearance."""
    return [t for t in postfix if isinstance(t, Fraction)]


def evaluate_expression(text: str) -> tuple[Fraction, list[Fraction]]:
    """The exact value of an arithmetic expression of whole numbers (no '=') and its numbers in order of appearance;
    a StepError for a division by zero or text that does not parse."""
    postfix = _Parser(text).parse()
    return _evaluate_postfix(postfix), operands(postfix)


def parse_claim(text: str) -> Fraction | None:
    """The number on the right of '=' ("8", "-5", "8/3", "(-5)"), or None when it is not one."""
    claim = _CLAIM.fullmatch(text)
    return None if claim is None else _value_text(claim[1])


def _split_claim(text: str) -> tuple[str, Fraction]:
    body = text.strip()
    if body.endswith("."):
        body = body[:-1]
    left, eq, right = body.partition("=")
    if not eq or not right.strip():
        _Parser(left).parse()  # an unparsable step says so before saying that '=' is missing
        raise StepError(f"missing '= result' in {_quote(text)}")
    claim = parse_claim(right)
    if claim is None:
        raise StepError(f"cannot parse the result {_quote(right)}")
    return left, claim


def read_step(state: Sequence[Number], text: str) -> tuple[str, list[Token], Fraction, list[Fraction]]:
    """(expression text, its postfix, the claimed result, the numbers left) of a step 'expression = result'.

    'a op b = c' whose operands are numbers of the state ("8 / (8/3) = 3", "(-5) + 9 = 4") combines those two;
    any other expression is read over whole numbers ("(7 + 3) * 16 = 160"). A StepError says what is wrong."""
    values = [exact(n) for n in state]
    m = _SIMPLE_STEP.fullmatch(text)
    if m is not None:
        a, op, b = _value_text(m[1]), _OPS[m[2]], _value_text(m[3])
        try:
            rest = _take(values, [a, b])
        except StepError as error:
            simple_error = error  # perhaps a compound expression of whole numbers: "8/2 + 1 = 5"
        else:
            claim = parse_claim(m[4])
            if claim is None:
                raise StepError(f"cannot parse the result {_quote(m[4])}")
            return f"{to_number(a)} {op} {to_number(b)}", [a, b, op], claim, rest
    left, claim = _split_claim(text)
    try:
        postfix = _Parser(left).parse()
        if len(postfix) == 1:
            raise StepError(f"{_quote(text)} does not combine any numbers")
        rest = _take(values, operands(postfix))
    except StepError:
        if m is not None:
            raise simple_error from None
        raise
    return " ".join(left.split()), postfix, claim, rest


def _take(values: list[Fraction], used: list[Fraction]) -> list[Fraction]:
    """The values with the used numbers removed (first occurrences), or a StepError naming the missing one."""
    rest = list(values)
    for n in used:
        try:
            rest.remove(n)
        except ValueError:
            raise StepError(_unavailable(n, used, values)) from None
    return rest


def _unavailable(n: Fraction, used: list[Fraction], values: list[Fraction]) -> str:
    have = values.count(n)
    if have == 0:
        return f"{to_number(n)} is not available in {format_state(values)}"
    times = "once" if have == 1 else f"{have} times"
    return f"{to_number(n)} is used {used.count(n)} times but appears only {times} in {format_state(values)}"


def apply_step(state: Sequence[Number], text: str) -> tuple[Number, ...]:
    """The state after a step like '25 - 19 = 6': used numbers removed, the exact result appended; or StepError."""
    new_state, slip = claimed_step(state, text)
    if slip is not None:
        raise StepError(slip)
    return new_state


def claimed_step(state: Sequence[Number], text: str) -> tuple[tuple[Number, ...], str | None]:
    """The state after a step taken at face value (used numbers removed, the CLAIMED result appended) and why the
    claim is wrong ("12 + 5 is 17, not 18"; None when it is right); a StepError for a step that is not well-formed
    (it does not parse, uses numbers the state lacks, divides by zero)."""
    fast = _whole_step(state, text)
    if fast is not None:
        return fast
    expression, postfix, claim, rest = read_step(state, text)
    value = _evaluate_postfix(postfix)
    slip = None if value == claim else f"{expression} is {to_number(value)}, not {to_number(claim)}"
    return tuple(to_number(v) for v in (*rest, claim)), slip


def corrected_step(state: Sequence[Number], text: str) -> str | None:
    """A well-formed step with a wrong result, its exact result in its place, the expression as its slip words it
    ("19 - 4 = 13" -> "19 - 4 = 15"); None for a right step or one that is not well-formed."""
    try:
        expression, postfix, claim, _ = read_step(state, text)
    except StepError:
        return None
    value = _evaluate_postfix(postfix)
    return None if value == claim else f"{expression} = {to_number(value)}"


_WHOLE_STEP = re.compile(r"\s*([0-9]{1,18})\s*([-+*/])\s*([0-9]{1,18})\s*=\s*(-?[0-9]{1,18})\s*\.?\s*")
_WHOLE_OPS = frozenset("+-*/")
_INT = frozenset((int,))
_WHOLE_LIMIT = 10**18  # the numbers of up to 18 digits that _WHOLE_STEP reads
Claimed = tuple[tuple[Number, ...], str | None]  # the state after a step taken at face value, and its slip


def _whole_step(state: Sequence[Number], text: str) -> Claimed | None:
    """claimed_step in the common case of whole numbers alone ('25 - 19 = 6' on a state of ints), or None for the
    general path: the same state and the same words for a wrong result, without building fractions."""
    m = _WHOLE_STEP.fullmatch(text)
    if m is None:
        return None
    return _whole_move(state, int(m[1]), m[2], int(m[3]), int(m[4]))


def claimed_move(state: Sequence[Number], move: tuple[Number, str, Number, Number]) -> Claimed | None:
    """claimed_step for a step handed over as the move it was written from, (a, op, b, claimed result) as
    format_move writes it, without reading its text: the same state and words in the case _whole_step reads (whole
    non-negative operands of up to 18 digits on a state of ints); None for the general path (read the text)."""
    a, op, b, claim = move
    if type(a) is not int or type(b) is not int or type(claim) is not int or op not in _WHOLE_OPS:
        return None
    if not (0 <= a < _WHOLE_LIMIT and 0 <= b < _WHOLE_LIMIT and -_WHOLE_LIMIT < claim < _WHOLE_LIMIT):
        return None
    return _whole_move(state, a, op, b, claim)


def _whole_move(state: Sequence[Number], a: int, op: str, b: int, claim: int) -> Claimed | None:
    if not _INT.issuperset(map(type, state)):  # a number that is not an int (faster than any(...) on a hot path)
        return None
    if op == "/":
        if b == 0 or a % b:
            return None
        value = a // b
    else:
        value = a + b if op == "+" else a - b if op == "-" else a * b
    rest = list(state)
    for n in (a, b):
        if n not in rest:
            return None
        rest.remove(n)
    slip = None if value == claim else f"{a} {op} {b} is {value}, not {claim}"  # as the general path words it
    return (*rest, claim), slip
