"""Math problems from JSONL, JSON, Parquet and CSV files, Hugging Face datasets, or the generator."""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from metacot.jsonl import LineTooLong, bounded_lines
from metacot.problems.base import ProblemFileError, SourceSettings
from metacot.problems.math.answers import MAX_ANSWER_CHARS, last_boxed
from metacot.problems.math.domain import MathConfig, MathProblem
from metacot.problems.math.generate import iter_math_problems
from metacot.problems.math.schema import UNNAMED, Fields, Schema, choose_schema

log = logging.getLogger("metacot")
Rows = Iterable[tuple[str, object]]  # ("where", record): where names the file and line or index


@dataclass
class Source:
    """A file's or dataset's field names, and a reader of its rows with only the columns asked for (where it can)."""

    where: str
    columns: list[str]
    rows: Callable[[list[str]], Rows]


@dataclass
class Loaded:
    """The problems a source gave, and what was left out."""

    problems: list[MathProblem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "where: why" for each invalid record (skip_invalid=True)
    filtered: int = 0  # records outside the solve-rate band, or without a solve rate


def math_problems(config: SourceSettings, section: MathConfig, seed: int) -> Iterable[MathProblem]:
    """The problems of problems.file or problems.dataset (invalid ones logged when skipped; read whole: the schema
    is detected from every record's fields), or generated ones, one at a time."""
    if config.file is None and config.dataset is None:
        return iter_math_problems(config.num_problems, seed, tuple(section.levels))
    fields = Fields(section.question_field, section.answer_field, section.id_field)
    band = (section.solve_rate[0], section.solve_rate[1]) if section.solve_rate is not None else None
    if config.file is not None:
        loaded = load_math_problems(config.file, section.preset, band, section.skip_invalid, fields)
    else:
        assert config.dataset is not None
        loaded = load_math_dataset(
            config.dataset, config.split, section.preset, solve_rate=band, skip_invalid=section.skip_invalid,
            fields=fields,
        )
    for reason in loaded.skipped:
        log.warning("skipped an invalid problem: %s", reason)
    return loaded.problems


def load_math_problems(
    path: str | Path,
    schema: Schema | str | None = None,
    solve_rate: tuple[float, float] | None = None,
    skip_invalid: bool = False,
    fields: Fields = UNNAMED,
) -> Loaded:
    """Problems from a .jsonl, .json (a list of objects), .parquet or .csv file.

    The schema is a Schema, a preset name, or None: the fields are detected from the file's field names (see
    schema.detect_schema); the fields named in `fields` replace the schema's or the detected ones.
    A record without a question or answer raises a ProblemFileError naming the file and the line (JSONL, CSV) or
    index (JSON, Parquet), unless skip_invalid, which leaves it out and says why in Loaded.skipped. With a
    solve-rate band (low, high), only records whose solve rate lies in it are kept.
    """
    path = Path(path)
    readers = {".jsonl": _jsonl_source, ".json": _json_source, ".parquet": _parquet_source, ".csv": _csv_source}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unknown problem file type; known: {', '.join(readers)}")
    try:
        return _load(reader(path), schema, solve_rate, skip_invalid, fields)
    except UnicodeDecodeError as error:
        raise ProblemFileError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def load_math_dataset(
    name_or_path: str,
    split: str = "train",
    schema: Schema | str | None = None,
    config_name: str | None = None,
    data_files: str | list[str] | None = None,
    solve_rate: tuple[float, float] | None = None,
    skip_invalid: bool = False,
    fields: Fields = UNNAMED,
    **load_kwargs: Any,
) -> Loaded:
    """Problems from `datasets.load_dataset(name_or_path, config_name, split=split, data_files=data_files,
    **load_kwargs)`: a dataset on the Hugging Face hub (or its local cache), a local dataset folder, or a builder
    such as "json" or "parquet" with data_files. The schema is chosen as load_math_problems does. Errors name the
    dataset and the row index."""
    try:
        import datasets
    except ImportError as e:
        raise ImportError("loading datasets needs the datasets package: pip install 'metacot[math]'") from e
    dataset = datasets.load_dataset(name_or_path, config_name, split=split, data_files=data_files, **load_kwargs)
    where = f"{name_or_path} ({split})"

    def rows(columns: list[str]) -> Rows:
        wanted = [c for c in columns if c in (dataset.column_names or ())]
        return ((f"{where}[{i}]", row) for i, row in enumerate(dataset.select_columns(wanted)))

    source = Source(where, list(dataset.column_names or ()), rows)
    return _load(source, schema, solve_rate, skip_invalid, fields)


def _load(
    source: Source,
    schema: Schema | str | None,
    solve_rate: tuple[float, float] | None,
    skip_invalid: bool,
    fields: Fields,
) -> Loaded:
    chosen = choose_schema(schema, source.columns, source.where, fields)
    return _collect(source.rows(_columns(chosen)), chosen, solve_rate, skip_invalid)


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


def _in_band(record: object, key: str | None, band: tuple[float, float]) -> bool:
    """Whether the record's solve rate lies in [low, high]; False when it has none."""
    if not isinstance(record, dict):
        return True  # let problem_from_row say what is wrong with it
    value = record.get(key) if key else None
    if value is None:
        return False
    try:
        rate = float(value)
    except (TypeError, ValueError):
        return False
    return band[0] <= rate <= band[1]


def _columns(schema: Schema) -> list[str]:
    """The fields a schema reads, in order, without repeats."""
    named = [schema.question_field, schema.answer_field, schema.id_field, schema.solve_rate_field, *schema.keep]
    return list(dict.fromkeys(c for c in named if c))


# --- files ------------------------------------------------------------------------------------------


def _keys(records: Iterable[object]) -> list[str]:
    """Every key of the records that are objects, in order of first appearance."""
    return list(dict.fromkeys(key for record in records if isinstance(record, dict) for key in record))


def _jsonl_source(path: Path) -> Source:
    try:
        rows = [
            (f"{path}:{lineno}", _json_line(line))
            for lineno, line in enumerate(bounded_lines(path, what="a problem"), start=1)
            if line.strip()
        ]
    except LineTooLong as e:
        raise ProblemFileError(str(e)) from None
    return Source(str(path), _keys(record for _, record in rows), lambda columns: rows)


def _json_line(line: bytes) -> object:
    """The parsed line, or the ValueError that says why it cannot be parsed (raised where the record is used)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as e:
        return ValueError(f"invalid JSON: {e}")


def _json_source(path: Path) -> Source:
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise ProblemFileError(f"{path}: invalid JSON: {e} (for JSON lines, name the file .jsonl)") from None
    if not isinstance(data, list):
        raise ProblemFileError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    rows = [(f"{path}[{i}]", record) for i, record in enumerate(data)]
    return Source(str(path), _keys(data), lambda columns: rows)


def _parquet_source(path: Path) -> Source:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError("reading Parquet needs pyarrow: pip install 'metacot[math]'") from e
    from pyarrow import ArrowException

    try:
        present = pq.read_schema(path).names
    except ArrowException as error:
        raise ProblemFileError(f"{path}: not a readable Parquet file ({error})") from None

    def rows(columns: list[str]) -> Rows:
        try:
            table = pq.read_table(path, columns=[c for c in columns if c in present])
        except ArrowException as error:
            raise ProblemFileError(f"{path}: not a readable Parquet file ({error})") from None
        return ((f"{path}[{i}]", record) for i, record in enumerate(table.to_pylist()))

    return Source(str(path), list(present), rows)


def _csv_source(path: Path) -> Source:
    with path.open(newline="", encoding="utf-8") as f:
        header = csv.DictReader(f).fieldnames or []
    return Source(str(path), list(header), lambda columns: _csv_rows(path))


def _csv_rows(path: Path) -> Iterator[tuple[str, object]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        start = reader.line_num + 2  # the header's line, then the first record's
        for record in reader:
            yield f"{path}:{start}", record
            start = reader.line_num + 1  # a quoted field may span lines
