"""Which fields of a math record hold the question, the gold answer and the id: presets, or detected from the names."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from metacot.problems.base import ProblemFileError

ANSWER_FORMATS = ("plain", "boxed", "gsm8k")
log = logging.getLogger("metacot")


@dataclass(frozen=True)
class Schema:
    """Which fields of a record hold what, and how the gold answer is read from its field."""

    question_field: str = "question"
    answer_field: str = "answer"
    id_field: str | None = None  # None: the id is a short hash of the question
    answer_format: str = "plain"  # "plain": the field is the answer; "boxed": its last \boxed{}; "gsm8k": after ####
    keep: tuple[str, ...] = ()  # fields copied into MathProblem.meta when a record has them
    solve_rate_field: str | None = None  # the field a solve-rate band filters on

    def __post_init__(self) -> None:
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(f"unknown answer_format {self.answer_format!r}; known: {', '.join(ANSWER_FORMATS)}")


@dataclass(frozen=True)
class Fields:
    """The fields a user names for the question, the gold answer and the id (problems.math.question_field,
    answer_field, id_field): each replaces a preset's or the detected one; None: not named."""

    question: str | None = None
    answer: str | None = None
    id: str | None = None


UNNAMED = Fields()  # no field named: the schema's, or the detected ones

PRESETS = {
    "generic": Schema(),
    "math": Schema("problem", "solution", answer_format="boxed", keep=("level", "type", "subject")),
    "gsm8k": Schema("question", "answer", answer_format="gsm8k"),
    "bigmath": Schema(
        "problem",
        "answer",
        keep=("source", "domain", "llama8b_solve_rate"),
        solve_rate_field="llama8b_solve_rate",
    ),
}

# What detection looks for, in the order a name is preferred; two question names at once are ambiguous.
QUESTION_NAMES = ("question", "problem")
ANSWER_NAMES = {"answer": "plain", "solution": "boxed"}  # "answer" wins: it is the gold itself
ID_NAME = "id"
META_NAMES = tuple(dict.fromkeys(name for schema in PRESETS.values() for name in schema.keep))


def make_schema(preset: str = "generic", **overrides: Any) -> Schema:
    """A preset ("generic", "math", "gsm8k", "bigmath") with the given fields replaced; None leaves one as is."""
    if preset not in PRESETS:
        raise ValueError(f"unknown schema preset {preset!r}; known: {', '.join(PRESETS)}")
    return replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


def choose_schema(schema: Schema | str | None, columns: Collection[str], where: str, named: Fields = UNNAMED) -> Schema:
    """The schema itself or a preset, with the named fields replaced, or (None) the fields detected from the
    columns."""
    if isinstance(schema, Schema):
        return replace(
            schema,
            question_field=named.question or schema.question_field,
            answer_field=named.answer or schema.answer_field,
            id_field=named.id or schema.id_field,
        )
    if schema is not None:
        return make_schema(schema, question_field=named.question, answer_field=named.answer, id_field=named.id)
    return detect_schema(columns, where, named)


def detect_schema(columns: Collection[str], where: str, named: Fields = UNNAMED) -> Schema:
    """The fields a source's column names make unambiguous; fields named win. ProblemFileError when one is unclear."""
    if not columns:  # no records, or none that parses: each says what is wrong with it when it is read
        return Schema()
    question = named.question or _one_of(columns, QUESTION_NAMES, "question", where)
    answer_format = "plain"
    answer_field, id_field = named.answer, named.id
    if answer_field is None:
        answer_field = _one_of(columns, tuple(ANSWER_NAMES), "answer", where, first_wins=True)
        answer_format = ANSWER_NAMES[answer_field]
    if id_field is None and ID_NAME in columns:
        id_field = ID_NAME
    used = {question, answer_field, id_field}
    keep = tuple(name for name in META_NAMES if name in columns and name not in used)
    solve_rate = PRESETS["bigmath"].solve_rate_field if PRESETS["bigmath"].solve_rate_field in columns else None
    schema = Schema(question, answer_field, id_field, answer_format, keep, solve_rate)
    log.info(
        "%s: question in %r, answer in %r (%s), id %s",
        where,
        question,
        answer_field,
        answer_format,
        repr(id_field) if id_field else "from the question's hash",
    )
    return schema


def _one_of(columns: Collection[str], names: tuple[str, ...], what: str, where: str, first_wins: bool = False) -> str:
    found = [name for name in names if name in columns]
    if not found:
        raise ProblemFileError(
            f"{where}: no {what} field: the records have none of {', '.join(map(repr, names))}; "
            f"name it with problems.math.{what}_field or choose problems.math.preset"
        )
    if len(found) > 1 and not first_wins:
        raise ProblemFileError(
            f"{where}: the {what} field is ambiguous: the records have {' and '.join(map(repr, found))}; "
            f"pick one with problems.math.{what}_field (or choose problems.math.preset)"
        )
    return found[0]
