"""Loading math problems: each preset from JSONL, JSON, Parquet and CSV files and through datasets.load_dataset,
errors that name the file and row, skipping, the solve-rate band, stable ids."""

from __future__ import annotations

import csv
import re

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metacot.problems import ProblemsConfig, make_problems
from metacot.problems.base import ProblemFileError
from metacot.problems.math import MathConfig, MathProblem
from metacot.problems.math.loaders import load_math_dataset, load_math_problems, question_id
from metacot.problems.math.schema import Fields, Schema, make_schema

MATH_ROWS = [
    {
        "problem": "What is $\\frac{1}{2} + \\frac{1}{4}$?",
        "solution": "Add them:\n$$\\frac{2}{4} + \\frac{1}{4} = \\boxed{\\frac{3}{4}}.$$",
        "level": "Level 1",
        "type": "Prealgebra",
    },
    {
        "problem": "Find the set of solutions of $x^2 = 1$.",
        "solution": "Try \\boxed{1} first, but $x = -1$ works too, so the set is $\\boxed{\\{-1, 1\\}}$.",
        "level": "Level 2",
        "type": "Algebra",
    },
]
GSM8K_ROWS = [
    {"question": "Ann has 3 apples and buys 4 more. How many now?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
    {"question": "Ben earns $12 an hour for 6 hours. How much?", "answer": "12 * 6 = 72\n#### 72"},
]
BIGMATH_ROWS = [
    {
        "problem": "Easy one: 1 + 1?",
        "answer": "2",
        "source": "orca",
        "domain": ["Arithmetic"],
        "llama8b_solve_rate": 0.9,
    },
    {"problem": "Hard one.", "answer": "\\sqrt{2}", "source": "olympiads", "domain": [], "llama8b_solve_rate": 0.2},
    {"problem": "Hopeless one.", "answer": "0", "source": "aops", "domain": [], "llama8b_solve_rate": 0.0},
    {"problem": "Unrated one.", "answer": "1", "source": "aops", "domain": [], "llama8b_solve_rate": None},
]


def write(path, rows):
    """rows in the file format its suffix names."""
    suffix = path.suffix
    if suffix == ".jsonl":
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    elif suffix == ".json":
        path.write_bytes(orjson.dumps(rows))
    elif suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        fields = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fields)
            writer.writeheader()
            writer.writerows(rows)
    return path


SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


# --- presets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_math_preset(tmp_path, suffix):
    loaded = load_math_problems(write(tmp_path / f"math{suffix}", MATH_ROWS), "math")
    assert [p.answer for p in loaded.problems] == ["\\frac{3}{4}", "\\{-1, 1\\}"]  # the last \boxed{}
    first = loaded.problems[0]
    assert first.question == MATH_ROWS[0]["problem"]
    assert first.meta == {"level": "Level 1", "type": "Prealgebra"}
    assert first.id == question_id(first.question)
    assert loaded.skipped == [] and loaded.filtered == 0


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_gsm8k_preset(tmp_path, suffix):
    loaded = load_math_problems(write(tmp_path / f"gsm8k{suffix}", GSM8K_ROWS), "gsm8k")
    assert [p.answer for p in loaded.problems] == ["7", "72"]
    assert loaded.problems[1].question == GSM8K_ROWS[1]["question"]


@pytest.mark.parametrize("suffix", (".jsonl", ".json", ".parquet"))
def test_bigmath_preset_and_solve_rate_band(tmp_path, suffix):
    path = write(tmp_path / f"bigmath{suffix}", BIGMATH_ROWS)
    everything = load_math_problems(path, "bigmath")
    assert [p.answer for p in everything.problems] == ["2", "\\sqrt{2}", "0", "1"]
    assert everything.problems[0].meta == {"source": "orca", "domain": ["Arithmetic"], "llama8b_solve_rate": 0.9}
    hard = load_math_problems(path, "bigmath", solve_rate=(0.1, 0.5))
    assert [p.question for p in hard.problems] == ["Hard one."]
    assert hard.filtered == 3  # too easy, too hard, unrated
    edges = load_math_problems(path, "bigmath", solve_rate=(0.0, 0.2))  # the band includes its ends
    assert [p.question for p in edges.problems] == ["Hard one.", "Hopeless one."]


def test_solve_rate_band_from_csv_text(tmp_path):
    loaded = load_math_problems(write(tmp_path / "bigmath.csv", BIGMATH_ROWS), "bigmath", solve_rate=(0.1, 0.5))
    assert [p.question for p in loaded.problems] == ["Hard one."]
    assert loaded.filtered == 3


def test_generic_fields_ids_and_numbers(tmp_path):
    rows = [{"qid": 17, "q": "What is 6 * 7?", "a": 42}, {"qid": "x-2", "q": "Half of 1?", "a": 0.5}]
    schema = Schema(question_field="q", answer_field="a", id_field="qid")
    loaded = load_math_problems(write(tmp_path / "own.jsonl", rows), schema)
    assert loaded.problems == [
        MathProblem("17", "What is 6 * 7?", "42", {}),
        MathProblem("x-2", "Half of 1?", "0.5", {}),
    ]


def test_make_schema_overrides_a_preset():
    schema = make_schema("math", answer_field="answer", answer_format="plain", id_field=None)
    assert (schema.question_field, schema.answer_field, schema.answer_format) == ("problem", "answer", "plain")
    with pytest.raises(ValueError, match="unknown schema preset 'nope'"):
        make_schema("nope")
    with pytest.raises(ValueError, match="unknown answer_format 'latex'"):
        make_schema("generic", answer_format="latex")
    with pytest.raises(ValueError, match="unknown answer_format"):
        Schema(answer_format="boxed ")


def test_ids_are_stable_short_hashes_of_the_question(tmp_path):
    a = load_math_problems(write(tmp_path / "a.jsonl", GSM8K_ROWS), "gsm8k").problems
    b = load_math_problems(write(tmp_path / "b.json", GSM8K_ROWS[::-1]), "gsm8k").problems
    assert {p.id: p.question for p in a} == {p.id: p.question for p in b}
    assert re.fullmatch(r"math-[0-9a-f]{12}", a[0].id) and a[0].id != a[1].id


# --- field names detected without a preset ---------------------------------------------------------

OWN_ROWS = [
    {"id": "p-1", "problem": "What is 6 * 7?", "answer": "42", "level": 1},
    {"id": "p-2", "problem": "Half of 1?", "answer": "\\frac{1}{2}", "level": 2},
]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_problem_answer_and_id_are_read_without_a_preset(tmp_path, suffix):
    loaded = load_math_problems(write(tmp_path / f"own{suffix}", OWN_ROWS))
    levels = (1, 2) if suffix != ".csv" else ("1", "2")  # CSV holds text
    assert loaded.problems == [
        MathProblem("p-1", "What is 6 * 7?", "42", {"level": levels[0]}),
        MathProblem("p-2", "Half of 1?", "\\frac{1}{2}", {"level": levels[1]}),
    ]


def test_question_and_answer_without_an_id_get_hash_ids(tmp_path):
    rows = [{"question": "Q1?", "answer": "1"}, {"question": "Q2?", "answer": "2"}]
    loaded = load_math_problems(write(tmp_path / "qa.jsonl", rows))
    assert [p.id for p in loaded.problems] == [question_id("Q1?"), question_id("Q2?")]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_detected_fields_read_math_and_bigmath_as_their_presets_do(tmp_path, suffix):
    math = write(tmp_path / f"math{suffix}", MATH_ROWS)  # problem, solution with \boxed{}
    assert load_math_problems(math).problems == load_math_problems(math, "math").problems
    bigmath = write(tmp_path / f"bigmath{suffix}", BIGMATH_ROWS)  # problem, answer, a solve rate
    band = (0.1, 0.5)
    assert load_math_problems(bigmath, solve_rate=band) == load_math_problems(bigmath, "bigmath", solve_rate=band)


def test_an_answer_field_wins_over_a_solution(tmp_path):
    rows = [{"problem": "1 + 1?", "solution": "So \\boxed{3}.", "answer": "2"}]
    assert load_math_problems(write(tmp_path / "both.json", rows)).problems[0].answer == "2"


def test_an_ambiguous_question_field_names_the_candidates_and_the_key(tmp_path):
    path = write(tmp_path / "both.jsonl", [{"question": "Q?", "problem": "P?", "answer": "1"}])
    message = "the question field is ambiguous: the records have 'question' and 'problem'; pick one with"
    with pytest.raises(ProblemFileError, match=re.escape(f"{path}: {message} problems.math.question_field")):
        load_math_problems(path)
    assert load_math_problems(path, fields=Fields(question="problem")).problems[0].question == "P?"
    assert load_math_problems(path, "generic").problems[0].question == "Q?"


def test_missing_fields_name_what_was_looked_for(tmp_path):
    path = write(tmp_path / "odd.csv", [{"prompt": "Q?", "answer": "1"}])
    with pytest.raises(ProblemFileError, match="no question field: the records have none of 'question', 'problem'"):
        load_math_problems(path)
    path = write(tmp_path / "odd.json", [{"question": "Q?", "gold": "1"}])
    with pytest.raises(ProblemFileError, match="problems.math.answer_field"):
        load_math_problems(path)
    assert load_math_problems(path, fields=Fields(answer="gold")).problems[0].answer == "1"


def test_explicit_presets_and_fields_win(tmp_path):
    path = write(tmp_path / "own.jsonl", OWN_ROWS)
    generic = load_math_problems(path, "generic", fields=Fields(question="problem"))  # the preset reads no id field
    assert [p.id for p in generic.problems] == [question_id("What is 6 * 7?"), question_id("Half of 1?")]
    bigmath = load_math_problems(path, "bigmath", fields=Fields(id="id"))
    assert [p.id for p in bigmath.problems] == ["p-1", "p-2"]
    assert load_math_problems(path, fields=Fields(id="level")).problems[0].id == "1"


def test_an_empty_file_has_no_problems(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    assert load_math_problems(path).problems == []


def test_a_dataset_is_read_without_a_preset(tmp_path):
    path = write(tmp_path / "own.jsonl", OWN_ROWS)
    loaded = load_math_dataset("json", "train", data_files=str(path), cache_dir=str(tmp_path / "c"))
    assert [p.id for p in loaded.problems] == ["p-1", "p-2"]


def test_the_math_section_chooses_the_fields(tmp_path):
    path = write(tmp_path / "both.jsonl", [{"question": "Q?", "problem": "P?", "answer": "1", "id": "a"}] * 1)
    config = ProblemsConfig(domain="math", file=str(path))
    with pytest.raises(ProblemFileError, match="problems.math.question_field"):
        make_problems(config, 0)
    config.math = MathConfig(question_field="problem")
    assert make_problems(config, 0) == [MathProblem("a", "P?", "1", {})]
    config.math = MathConfig(preset="gsm8k")
    with pytest.raises(ProblemFileError, match="no '#### answer'"):
        make_problems(config, 0)


# --- errors -----------------------------------------------------------------------------------------

BROKEN = [
    {"problem": "Fine.", "solution": "\\boxed{1}"},
    {"problem": "No answer at all."},
    {"problem": "Unboxed.", "solution": "It is 3."},
    {"solution": "\\boxed{4}"},
]
WHY = [
    "missing field 'solution'",
    "no \\boxed{} answer in field 'solution'",
    "missing field 'problem'",
]


@pytest.mark.parametrize(
    ("suffix", "where"),
    [(".jsonl", ":{line}:"), (".json", "[{index}]:"), (".parquet", "[{index}]:"), (".csv", ":{csv_line}:")],
)
def test_errors_name_the_file_and_row(tmp_path, suffix, where):
    path = write(tmp_path / f"broken{suffix}", BROKEN)
    first_bad = where.format(line=2, index=1, csv_line=3)  # CSV: the header is line 1
    with pytest.raises(ProblemFileError) as e:
        load_math_problems(path, "math")
    assert str(e.value) == f"{path}{first_bad} {WHY[0]}"


def test_skip_invalid_counts_and_explains(tmp_path):
    path = write(tmp_path / "broken.jsonl", BROKEN)
    loaded = load_math_problems(path, "math", skip_invalid=True)
    assert [p.answer for p in loaded.problems] == ["1"]
    assert loaded.skipped == [f"{path}:{line}: {why}" for line, why in zip((2, 3, 4), WHY, strict=True)]


def test_csv_rows_name_their_first_line_after_multiline_fields(tmp_path):
    rows = [{"problem": "Two\nlines.", "solution": "So\n\\boxed{2}"}, {"problem": "Bad.", "solution": ""}]
    path = write(tmp_path / "multi.csv", rows)  # the header is line 1, the first record lines 2-4
    with pytest.raises(ProblemFileError, match=re.escape(f"{path}:5: missing field 'solution'")):
        load_math_problems(path, "math")


def test_invalid_json_lines_and_duplicate_ids(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"question": "Q1", "answer": "1"}\n\n{"question": oops}\n{"question": "Q1", "answer": "2"}\n')
    with pytest.raises(ProblemFileError, match=re.escape(f"{path}:3: invalid JSON")):
        load_math_problems(path)
    loaded = load_math_problems(path, skip_invalid=True)
    assert len(loaded.problems) == 1
    assert loaded.skipped[1].startswith(f"{path}:4: duplicate id 'math-")
    assert loaded.skipped[1].endswith(f"(first at {path}:1)")


def test_gsm8k_answer_without_its_mark(tmp_path):
    path = write(tmp_path / "g.json", [{"question": "Q?", "answer": "It is 5."}])
    with pytest.raises(ProblemFileError, match=re.escape(f"{path}[0]: no '#### answer' in field 'answer'")):
        load_math_problems(path, "gsm8k")


def test_file_level_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown problem file type"):
        load_math_problems(tmp_path / "problems.txt")
    not_a_list = tmp_path / "object.json"
    not_a_list.write_text('{"question": "Q", "answer": "1"}')
    with pytest.raises(ProblemFileError, match="expected a JSON list of objects, got dict"):
        load_math_problems(not_a_list)
    path = write(tmp_path / "b.jsonl", BIGMATH_ROWS)
    with pytest.raises(ValueError, match="needs a schema with a solve_rate_field"):
        load_math_problems(path, "math", solve_rate=(0.1, 0.5))
    with pytest.raises(ValueError, match="0 <= low <= high <= 1"):
        load_math_problems(path, "bigmath", solve_rate=(0.6, 0.5))


def test_overlong_gold_answers_are_invalid(tmp_path):
    path = write(tmp_path / "long.jsonl", [{"question": "Q", "answer": "1" * 2000}])
    with pytest.raises(ProblemFileError, match="longer than 1000 characters"):
        load_math_problems(path)


# --- datasets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("builder", "suffix"), [("json", ".jsonl"), ("parquet", ".parquet")])
def test_load_dataset_on_local_files(tmp_path, builder, suffix):
    path = write(tmp_path / f"math{suffix}", MATH_ROWS)
    from_dataset = load_math_dataset(builder, "train", "math", data_files=str(path), cache_dir=str(tmp_path / "c"))
    assert from_dataset.problems == load_math_problems(path, "math").problems


def test_load_dataset_errors_name_the_dataset_and_row(tmp_path):
    path = write(tmp_path / "bigmath.jsonl", [*BIGMATH_ROWS, {"problem": "No answer.", "llama8b_solve_rate": 0.3}])
    kwargs = {"data_files": str(path), "cache_dir": str(tmp_path / "c")}
    with pytest.raises(ProblemFileError, match=re.escape("json (train)[4]: missing field 'answer'")):
        load_math_dataset("json", "train", "bigmath", **kwargs)
    loaded = load_math_dataset("json", "train", "bigmath", solve_rate=(0.1, 0.5), skip_invalid=True, **kwargs)
    assert [p.question for p in loaded.problems] == ["Hard one."]
    assert loaded.filtered == 3 and len(loaded.skipped) == 1
