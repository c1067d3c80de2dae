"""Math problems from JSONL, JSON, Parquet and CSV files or Hugging Face datasets, mapped by schema presets."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from metacot.problems.answers import MAX_ANSWER_CHARS, last_boxed
from metacot.problems.countdown import ProblemFileError
from metacot.problems.math import MathProblem

ANSWER_FORMATS = ("plain", "boxed", "gsm8k")


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


def make_schema(preset: str = "generic", **overrides: Any) -> Schema:
    """A preset ("generic", "math", "gsm8k", "bigmath") with the given fields replaced; None leaves one as is."""
    if preset not in PRESETS:
        raise ValueError(f"unknown schema preset {preset!r}; known: {', '.join(PRESETS)}")
    return replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class Loaded:
    """The problems a source gave, and what was left out."""

    problems: list[MathProblem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "where: why" for each invalid record (skip_invalid=True)
    filtered: int = 0  # records outside the solve-rate band, or without a solve rate


def load_math_problems(
    path: str | Path,
    schema: Schema | str = "generic",
    solve_rate: tuple[float, float] | None = None,
    skip_invalid: bool = False,
) -> Loaded:
    """Problems from a .jsonl, .json (a list of objects), .parquet or .csv file.

    A record without a question or answer raises a ProblemFileError naming the file and the line (JSONL, CSV) or
    index (JSON, Parquet), unless skip_invalid, which leaves it out and says why in Loaded.skipped. With a
    solve-rate band (low, high), only records whose solve rate lies in it are kept.
    """
    path = Path(path)
    readers = {".jsonl": _jsonl_rows, ".json": _json_rows, ".parquet": _parquet_rows, ".csv": _csv_rows}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unknown problem file type; known: {', '.join(readers)}")
    schema = make_schema(schema) if isinstance(schema, str) else schema
    return _collect(reader(path, _columns(schema)), schema, solve_rate, skip_invalid)


def load_math_dataset(
    name_or_path: str,
    split: str = "train",
    schema: Schema | str = "generic",
    config_name: str | None = None,
    data_files: str | list[str] | None = None,
    solve_rate: tuple[float, float] | None = None,
    skip_invalid: bool = False,
    **load_kwargs: Any,
) -> Loaded:
    """Problems from `datasets.load_dataset(name_or_path, config_name, split=split, data_files=data_files,
    **load_kwargs)`: a dataset on the Hugging Face hub (or its local cache), a local dataset folder, or a builder
    such as "json" or "parquet" with data_files. Errors name the dataset and the row index."""
    try:
        import datasets
    except ImportError as e:
        raise ImportError("loading datasets needs the datasets package: pip install 'metacot[math]'") from e
    schema = make_schema(schema) if isinstance(schema, str) else schema
    dataset = datasets.load_dataset(name_or_path, config_name, split=split, data_files=data_files, **load_kwargs)
    wanted = [c for c in _columns(schema) if c in (dataset.column_names or ())]
    rows = enumerate(dataset.select_columns(wanted))
    return _collect(((f"{name_or_path} ({split})[{i}]", row) for i, row in rows), schema, solve_rate, skip_invalid)


# --- records ----------------------------------------------------------------------------------------


def _collect(
    rows: Iterable[tuple[str, object]], schema: Schema, solve_rate: tuple[float, float] | None, skip_invalid: bool
) -> Loaded:
    if solve_rate is not None:
        _check_band(solve_rate, schema)
    loaded = Loaded()
    first: dict[str, str] = {}
    for where, record in rows:
        try:
            if isinstance(record, ValueError):
                raise record
            if solve_rate is not None and not _in_band(record, schema.solve_rate_field, solve_rate):
                loaded.filtered += 1
                continue
            problem = problem_from_row(record, schema)
            if problem.id in first:
                raise ValueError(f"duplicate id {problem.id!r} (first at {first[problem.id]})")
        except ValueError as e:
            if not skip_invalid:
                raise ProblemFileError(f"{where}: {e}") from None
            loaded.skipped.append(f"{where}: {e}")
            continue
        first[problem.id] = where
        loaded.problems.append(problem)
    return loaded


def problem_from_row(record: object, schema: Schema) -> MathProblem:
    """A problem from one record of a source; ValueError naming the bad field."""
    if not isinstance(record, dict):
        raise ValueError("expected an object")
    question = _text(record, schema.question_field)
    answer = _gold(_text(record, schema.answer_field), schema)
    if len(answer) > MAX_ANSWER_CHARS:
        raise ValueError(f"the answer is longer than {MAX_ANSWER_CHARS} characters")
    problem_id = _text(record, schema.id_field) if schema.id_field else question_id(question)
    meta = {key: record[key] for key in schema.keep if record.get(key) not in (None, "")}
    return MathProblem(problem_id, question, answer, meta)


def question_id(question: str) -> str:
    """A stable id for a question without one: a short hash of its text."""
    return "math-" + hashlib.sha256(question.encode()).hexdigest()[:12]


def _text(record: dict, key: str) -> str:
    """The field as stripped text (numbers allowed: ids and answers are often numbers); ValueError if absent."""
    value = record.get(key)
    if value is None or value == "":
        raise ValueError(f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"field {key!r} must be a string or a number, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"field {key!r} is blank")
    return text


def _gold(text: str, schema: Schema) -> str:
    if schema.answer_format == "boxed":
        answer = last_boxed(text)
        if answer is None:
            raise ValueError(f"no \\boxed{{}} answer in field {schema.answer_field!r}")
        return answer
    if schema.answer_format == "gsm8k":
        _, mark, answer = text.rpartition("####")
        if not mark or not answer.strip():
            raise ValueError(f"no '#### answer' in field {schema.answer_field!r}")
        return answer.strip()
    return text


def _check_band(band: tuple[float, float], schema: Schema) -> None:
    if schema.solve_rate_field is None:
        raise ValueError("a solve-rate band needs a schema with a solve_rate_field (the bigmath preset has one)")
    low, high = band
    if not 0 <= low <= high <= 1:
        raise ValueError(f"a solve-rate band needs 0 <= low <= high <= 1, got {band}")


def _in_band(record: object, key: str, band: tuple[float, float]) -> bool:
    """Whether the record's solve rate lies in [low, high]; False when it has none."""
    if not isinstance(record, dict):
        return True  # let problem_from_row say what is wrong with it
    try:
        rate = float(record.get(key))
    except (TypeError, ValueError):
        return False
    return band[0] <= rate <= band[1]


def _columns(schema: Schema) -> list[str]:
    """The fields a schema reads, in order, without repeats."""
    named = [schema.question_field, schema.answer_field, schema.id_field, schema.solve_rate_field, *schema.keep]
    return list(dict.fromkeys(c for c in named if c))


# --- files ------------------------------------------------------------------------------------------


def _jsonl_rows(path: Path, columns: list[str]) -> Iterator[tuple[str, object]]:
    for lineno, line in enumerate(path.read_bytes().splitlines(), start=1):
        if line.strip():
            yield f"{path}:{lineno}", _json_line(line)


def _json_line(line: bytes) -> object:
    """The parsed line, or the ValueError that says why it cannot be parsed (raised where the record is used)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as e:
        return ValueError(f"invalid JSON: {e}")


def _json_rows(path: Path, columns: list[str]) -> Iterator[tuple[str, object]]:
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise ProblemFileError(f"{path}: invalid JSON: {e} (for JSON lines, name the file .jsonl)") from None
    if not isinstance(data, list):
        raise ProblemFileError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    for i, record in enumerate(data):
        yield f"{path}[{i}]", record


def _parquet_rows(path: Path, columns: list[str]) -> Iterator[tuple[str, object]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError("reading Parquet needs pyarrow: pip install 'metacot[math]'") from e
    present = set(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in columns if c in present])
    for i, record in enumerate(table.to_pylist()):
        yield f"{path}[{i}]", record


def _csv_rows(path: Path, columns: list[str]) -> Iterator[tuple[str, object]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        start = reader.line_num + 2  # the header's line, then the first record's
        for record in reader:
            yield f"{path}:{start}", record
            start = reader.line_num + 1  # a quoted field may span lines
