"""Property tests of the parsers and loaders of untrusted input: a valid value or the project's error, never another
exception, and what is written reads back unchanged."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from fractions import Fraction
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metacot.cli import build_parser, synth_config
from metacot.config import ConfigError, SynthConfig, checked, from_dict, load_config, parse_value
from metacot.outputs import records
from metacot.outputs.records import heads, id_and_failure
from metacot.problems.base import ProblemFileError, StepError
from metacot.problems.countdown.data import MAX_NUMBERS, MAX_VALUE, CountdownProblem, load_problems
from metacot.problems.countdown.parse import claimed_step, evaluate_expression, exact, format_state, to_number
from metacot.problems.math.answers import extract_answer
from metacot.problems.math.loaders import load_math_problems
from metacot.problems.math.schema import Fields

int64 = st.integers(-(2**63), 2**63 - 1)  # what the JSON writers hold
FEW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True, scope="module")
def scratch(tmp_path_factory):
    """The folder temp_file writes in (hypothesis runs many examples per test: pytest's tmp_path is per test)."""
    global SCRATCH
    SCRATCH = tmp_path_factory.mktemp("properties")
    yield


SCRATCH = Path(".")


def temp_file(suffix: str, data: bytes) -> Path:
    """A new file holding data, named problems<suffix> (as the loaders tell formats by suffix)."""
    path = Path(tempfile.mkdtemp(dir=SCRATCH)) / f"problems{suffix}"
    path.write_bytes(data)
    return path


# --- Countdown steps and expressions -----------------------------------------------------------------

fractions = st.fractions(min_value=-1000, max_value=1000, max_denominator=50)
states = st.lists(st.one_of(st.integers(-1000, 1000), fractions.map(to_number)), max_size=6)
step_chars = st.sampled_from(list("0123456789 +-−*x×/÷()=.") + ["  ", "8/3", "(-5)", "\n"])
step_like = st.lists(step_chars, max_size=30).map("".join)


@FEW
@given(states, st.one_of(st.text(max_size=60), step_like))
def test_a_step_is_read_or_refused_with_a_step_error(state, text):
    try:
        new_state, slip = claimed_step(state, text)
    except StepError as error:
        assert str(error)
        return
    assert len(new_state) == len(state) - 1  # two numbers used, one result added
    assert slip is None or " is " in slip
    for number in new_state:
        assert exact(number) == exact(to_number(exact(number)))  # the state reads back as it is written


@st.composite
def expressions(draw, depth: int = 3) -> tuple[str, Fraction]:
    """An expression of whole numbers as text, and its exact value (None when it divides by zero)."""
    if depth == 0 or draw(st.booleans()):
        n = draw(st.integers(0, 10**6))
        return str(n), Fraction(n)
    (left, a), (right, b) = draw(expressions(depth - 1)), draw(expressions(depth - 1))
    op = draw(st.sampled_from("+-*/"))
    if a is None or b is None or (op == "/" and b == 0):
        return f"({left} {op} {right})", None
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[op]
    return f"({left} {op} {right})", value


@FEW
@given(expressions())
def test_an_expression_evaluates_to_its_exact_value(expression):
    text, value = expression
    if value is None:
        with pytest.raises(StepError, match="division by zero"):
            evaluate_expression(text)
    else:
        assert evaluate_expression(text)[0] == value


@FEW
@given(st.lists(fractions, min_size=1, max_size=6))
def test_a_state_formats_and_reads_back(values):
    written = format_state(values)
    assert [exact(part) for part in written[1:-1].split(", ")] == values


@FEW
@given(st.lists(st.integers(0, 1000), min_size=2, max_size=6), st.data())
def test_a_right_step_on_two_numbers_of_the_state_is_taken(state, data):
    i, j = data.draw(st.lists(st.integers(0, len(state) - 1), min_size=2, max_size=2, unique=True))
    a, b = state[i], state[j]
    op = data.draw(st.sampled_from("+-*/" if b else "+-*"))
    value = {"+": a + b, "-": a - b, "*": a * b, "/": Fraction(a, b) if b else None}[op]
    assert value is not None
    new_state, slip = claimed_step(state, f"{a} {op} {b} = {to_number(value)}")
    assert slip is None
    rest = list(state)
    rest.remove(a)
    rest.remove(b)
    assert [exact(n) for n in new_state] == [*map(Fraction, rest), value]


# --- math answers ------------------------------------------------------------------------------------

answer_chars = st.sampled_from(
    list("0123456789abx{}\\$.*#:- \n") + ["boxed", "\\boxed", "####", "Answer:", "answer is"]
)
answer_like = st.lists(answer_chars, max_size=40).map("".join)
plain_answers = st.text(st.characters(blacklist_characters="{}\\$\n\r", blacklist_categories=["Cs"]), min_size=1)


@FEW
@given(st.one_of(st.text(max_size=200), answer_like))
def test_an_answer_is_extracted_or_none(text):
    answer = extract_answer(text)
    assert answer is None or (isinstance(answer, str) and answer == answer.strip() and answer)


@FEW
@given(plain_answers.filter(lambda a: a.strip()), st.text(max_size=40))
def test_a_boxed_answer_is_extracted_as_written(answer, before):
    assert extract_answer(f"{before} so \\boxed{{{answer}}}.") == answer.strip()


# --- problem files -----------------------------------------------------------------------------------

countdown_records = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=8), int64, st.none()),
        "numbers": st.one_of(st.lists(st.integers(-5, MAX_VALUE + 5), max_size=MAX_NUMBERS + 1), st.text(max_size=4)),
        "nums": st.lists(st.one_of(st.integers(0, 100), st.floats(), st.booleans()), max_size=4),
        "target": st.one_of(st.integers(-5, MAX_VALUE + 5), st.floats(), st.text(max_size=3)),
    },
)
json_lines = st.lists(st.one_of(countdown_records.map(orjson.dumps), st.binary(max_size=20)), max_size=6)


@FEW
@given(json_lines)
def test_a_countdown_file_loads_or_names_its_file_and_line(lines):
    path = temp_file(".jsonl", b"\n".join(lines) + b"\n")
    try:
        problems = load_problems(path)
    except ProblemFileError as error:
        assert str(error).startswith(f"{path}:")
        return
    for problem in problems:
        assert problem.id and 1 <= len(problem.numbers) <= MAX_NUMBERS
        assert all(0 <= n <= MAX_VALUE for n in problem.numbers) and 0 <= problem.target <= MAX_VALUE


valid_countdown = st.builds(
    CountdownProblem,
    st.text(min_size=1, max_size=10),
    st.lists(st.integers(0, MAX_VALUE), min_size=1, max_size=MAX_NUMBERS).map(tuple),
    st.integers(0, MAX_VALUE),
)


@FEW
@given(st.lists(valid_countdown, max_size=8, unique_by=lambda p: p.id))
def test_countdown_problems_written_as_jsonl_load_back(problems):
    lines = [orjson.dumps({"id": p.id, "numbers": list(p.numbers), "target": p.target}) + b"\n" for p in problems]
    assert load_problems(temp_file(".jsonl", b"".join(lines))) == problems


scalars = st.one_of(st.none(), st.booleans(), int64, st.floats(allow_nan=False), st.text(max_size=12))
math_records = st.fixed_dictionaries(
    {},
    optional={
        "question": scalars,
        "problem": scalars,
        "answer": st.one_of(scalars, st.text(max_size=12).map(lambda t: f"\\boxed{{{t}}}")),
        "solution": st.one_of(scalars, st.text(max_size=12).map(lambda t: f"so #### {t}")),
        "id": scalars,
    },
)


def csv_bytes(records: list[dict]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, sorted({key for record in records for key in record}))
    writer.writeheader()
    writer.writerows(records)
    return text.getvalue().encode()


def math_file(kind: str, records: list[dict]) -> bytes:
    if kind == ".jsonl":
        return b"".join(orjson.dumps(record) + b"\n" for record in records)
    if kind == ".json":
        return orjson.dumps(records)
    return csv_bytes(records)


def assert_loads_or_names(path: Path) -> None:
    try:
        loaded = load_math_problems(path, skip_invalid=False)
    except ProblemFileError as error:
        assert str(error).startswith(str(path)), error
        return
    for problem in loaded.problems:
        assert problem.id and problem.question.strip() and problem.answer.strip()


@SOME
@given(st.sampled_from([".jsonl", ".json", ".csv"]), st.lists(math_records, max_size=5))
def test_a_math_file_loads_or_names_its_file(kind, records):
    assert_loads_or_names(temp_file(kind, math_file(kind, records)))


@SOME
@given(st.sampled_from([".jsonl", ".json", ".csv"]), st.text(max_size=80))
def test_math_file_text_loads_or_names_its_file(kind, text):
    assert_loads_or_names(temp_file(kind, text.encode()))


def test_a_math_csv_file_that_is_not_utf8_is_refused_naming_it():
    with pytest.raises(ProblemFileError, match="problems.csv"):
        load_math_problems(temp_file(".csv", b"question,answer\n\x80,1\n"))


def test_a_corrupt_parquet_file_is_refused_naming_it():
    pytest.importorskip("pyarrow")
    with pytest.raises(ProblemFileError, match="problems.parquet"):
        load_math_problems(temp_file(".parquet", b"not parquet"))


@SOME
@given(st.lists(st.binary(min_size=1, max_size=60), max_size=3))
def test_a_math_parquet_file_loads_or_names_its_file(columns):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    names = ["question", "answer", "id"][: len(columns)]
    table = pa.table({name: [value.decode("latin-1")] for name, value in zip(names, columns, strict=False)})
    path = temp_file(".parquet", b"")
    pq.write_table(table, path)
    assert_loads_or_names(path)


math_problem_rows = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=8),
            "question": st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=20),
            "answer": st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=10),
        }
    ).filter(lambda r: all(v.strip() for v in r.values())),
    max_size=5,
    unique_by=lambda r: r["id"].strip(),
)


@SOME
@given(st.sampled_from([".jsonl", ".json", ".csv"]), math_problem_rows)
def test_math_problems_written_load_back(kind, rows):
    path = temp_file(kind, math_file(kind, rows))
    loaded = load_math_problems(path, "generic", fields=Fields("question", "answer", "id"))
    assert [(p.id, p.question, p.answer) for p in loaded.problems] == [
        (r["id"].strip(), r["question"].strip(), r["answer"].strip()) for r in rows
    ]


# --- the TOML config and --set ------------------------------------------------------------------------


def leaf_keys(table: dict, prefix: str = "") -> list[str]:
    """Every dotted key of a nested dict whose value is not a table."""
    keys = []
    for key, value in table.items():
        keys += leaf_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return keys


KEYS = leaf_keys(SynthConfig().to_dict())
toml_scalars = st.one_of(
    st.booleans(),
    int64,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
toml_values = st.one_of(toml_scalars, st.lists(toml_scalars, max_size=3))


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    # ints, floats and strings are written as in JSON, but with characters outside the BMP as they are (JSON
    # escapes them as surrogate pairs, which TOML refuses) and DEL escaped (TOML refuses it bare)
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


@SOME
@given(st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), toml_values), max_size=4))
def test_a_toml_config_loads_or_names_its_file_and_key(items):
    lines = [f"{json.dumps(key) if '.' not in key else key} = {toml_value(value)}" for key, value in items]
    path = temp_file(".toml", "\n".join(lines).encode())
    try:
        config = load_config(path)
    except ConfigError as error:
        assert str(error).startswith(f"{path}"), error
        return
    assert isinstance(checked(config), SynthConfig)


@SOME
@given(st.binary(max_size=60))
def test_config_file_bytes_load_or_name_the_file(data):
    path = temp_file(".toml", data)
    try:
        load_config(path)
    except ConfigError as error:
        assert str(error).startswith(f"{path}"), error


@SOME
@given(st.sampled_from(KEYS), st.one_of(toml_values.map(toml_value), st.text(max_size=12)))
def test_set_gives_a_config_or_an_error_naming_the_flag(key, text):
    args = build_parser().parse_args(["synth", "--set", f"{key}={text}"])
    try:
        config = synth_config(args)
    except ConfigError as error:
        assert f"--set {key}" in str(error) or str(error).startswith("config."), error
        return
    assert isinstance(config, SynthConfig)


@SOME
@given(toml_scalars)
def test_a_toml_value_on_the_command_line_reads_back(value):
    assert parse_value(toml_value(value)) == value


def test_a_config_round_trips_through_its_dict():
    config = SynthConfig()
    assert from_dict(SynthConfig, config.to_dict(), "config") == config


# --- tree records read as far as their id and failure -------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), int64, st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


@FEW
@given(
    st.text(min_size=1, max_size=12),
    st.dictionaries(st.sampled_from(["id", "failed", "search", "q"]), json_values, max_size=4),
    st.one_of(st.none(), st.text(max_size=12)),
    st.integers(0, 6000),
)
def test_a_tree_records_id_and_failure_from_its_head_are_the_whole_records(problem_id, problem, failed, length):
    record = {"problem_id": problem_id, "problem": problem, "search": "mcts", "solved": False, "failed": failed}
    line = orjson.dumps({**record, "compute": {}, "trace": [], "nodes": [{"step": "}" * length}]}) + b"\n"
    path = temp_file(".jsonl", line + b'{"problem_id": "p", "failed": "x"}\n' + line)
    found = [id_and_failure(path, n, start, head) for n, (start, head, _) in enumerate(heads(path), 1)]
    assert found == [(problem_id, failed is not None), ("p", True), (problem_id, failed is not None)]


def test_heads_give_each_lines_offset_and_beginning_across_reads(monkeypatch):
    monkeypatch.setattr(records, "CHUNK", 7)
    monkeypatch.setattr(records, "HEAD", 5)
    lines = [b"a" * n + b"\n" for n in (0, 3, 20, 6, 1, 40)]
    path = temp_file(".jsonl", b"".join(lines) + b"unfinished")
    starts = [sum(map(len, lines[:i])) for i in range(len(lines) + 1)]
    assert list(heads(path)) == [(starts[i], line[:5], starts[i + 1]) for i, line in enumerate(lines)]
    assert list(heads(path, starts[3])) == list(heads(path))[3:]
