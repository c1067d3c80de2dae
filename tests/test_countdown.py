"""Countdown: step parsing and errors, moves, the oracle, generation, loading, answers, the domain."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from fractions import Fraction

import orjson
import pytest

from metacot.problems import CountdownDomain, CountdownProblem, get_domain
from metacot.problems.countdown import (
    ProblemFileError,
    StepError,
    answer_error,
    apply_step,
    evaluate_expression,
    format_move,
    generate_problems,
    legal_moves,
    load_problems,
    reachable,
    solution_expression,
    verify_answer,
)

STATE = (7, 3, 16)


# --- parsing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7 + 3 = 10", (16, 10)),
        ("16 - 3 = 13", (7, 13)),
        ("7 * 3 = 21", (16, 21)),
        ("7 x 3 = 21", (16, 21)),
        ("7 × 3 = 21", (16, 21)),
        ("  7+3=10  ", (16, 10)),
        ("7 + 3 = 10.", (16, 10)),
        ("(7 + 3) * 16 = 160", (160,)),
        ("7 + 3 * 16 = 55", (55,)),
        ("(16 - 7) ÷ 3 = 3", (3,)),
        ("((7)) + 3 = 10", (16, 10)),
    ],
)
def test_step_forms_and_aliases(text, expected):
    assert apply_step(STATE, text) == expected


def test_division_alias_and_exact_division():
    assert apply_step((16, 4), "16 ÷ 4 = 4") == (4,)
    assert apply_step((16, 4), "16 / 4 = 4") == (4,)


def test_precedence_and_evaluate_expression():
    assert evaluate_expression("2 + 3 * 4") == (14, [2, 3, 4])
    assert evaluate_expression("(2 + 3) * 4") == (20, [2, 3, 4])
    assert evaluate_expression("20 - 4 - 3") == (13, [20, 4, 3])
    assert evaluate_expression("24 / 4 / 2") == (3, [24, 4, 2])


def test_new_state_removes_first_occurrences_and_appends_result():
    assert apply_step((25, 19, 21, 16), "25 - 19 = 6") == (21, 16, 6)
    assert apply_step((5, 2, 5, 3), "5 + 3 = 8") == (2, 5, 8)
    assert apply_step((4, 4, 4), "4 * 4 = 16") == (4, 16)


@pytest.mark.parametrize(
    ("state", "text", "words"),
    [
        ((8, 0), "8 / 0 = 0", ["division by zero"]),
        ((13, 4), "13 / 4 = 3", ["13 / 4 is 13/4, not 3"]),
        ((3, 7), "3 - 7 = 4", ["3 - 7 is -4, not 4"]),
        ((8, 3), "8 / (8/3) = 3", ["8/3 is not available in [8, 3]"]),
        ((8, 3), "8 / 3 = 8 / 0", ["division by zero"]),
        ((7, 3, 16), "7 + 7 = 14", ["7", "once"]),
        ((7, 3, 16), "11 + 3 = 14", ["11 is not available in [7, 3, 16]"]),
        ((7, 3, 16), "7 + 3 = 11", ["7 + 3 is 10, not 11"]),
        ((7, 3, 16), "(7 + 3) * 16 = 100", ["is 160, not 100"]),
        ((7, 3, 16), "7 + 3", ["missing", "="]),
        ((7, 3, 16), "7 + + 3 = 10", ["cannot parse '7 + + 3'"]),
        ((7, 3, 16), "hello world", ["cannot parse"]),
        ((7, 3, 16), "7 + 3 = ten", ["cannot parse", "ten"]),
        ((7, 3, 16), "(7 + 3 = 10", ["cannot parse"]),
        ((7, 3, 16), "7 = 7", ["does not combine"]),
        ((7, 3, 16), "", ["cannot parse"]),
        ((7, 3, 16), "__import__('os').system('true') = 0", ["cannot parse"]),
    ],
)
def test_step_errors_say_what_is_wrong(state, text, words):
    with pytest.raises(StepError) as info:
        apply_step(state, text)
    for word in words:
        assert word in str(info.value)


def test_negative_and_fractional_results_are_exact_and_round_trip_as_json():
    assert apply_step((3, 7, 10), "(3 - 7) + 10 = 6") == (6,)
    assert apply_step((7, 2, 4), "7 / 2 * 4 = 14") == (14,)
    assert apply_step((3, 7), "3 - 7 = -4") == (-4,)
    assert apply_step((3, 3, 8, 8), "8 / 3 = 8/3") == (3, 8, "8/3")
    state = apply_step((3, 8, "8/3"), "3 - (8/3) = 1/3")
    assert state == (8, "1/3") and orjson.loads(orjson.dumps(state)) == [8, "1/3"]
    assert apply_step([8, "1/3"], "8 / (1/3) = 24") == (24,)  # a state read back from JSON is a list
    assert apply_step((8, "1/3"), "8 / 1/3 = 24") == (24,)  # "1/3" without spaces is the number
    assert apply_step((-4, 10), "-4 + 10 = 6") == apply_step((-4, 10), "(-4) + 10 = 6") == (6,)
    assert apply_step((6, 2, 1), "6/2 + 1 = 4") == (4,)  # not numbers of the state: whole-number arithmetic
    assert apply_step((7, 2), "7 / 2 = 7 / 2") == ("7/2",)
    with pytest.raises(StepError, match=r"^3 - 8/3 is 1/3, not -1/3$"):
        apply_step((3, "8/3"), "3 - (8/3) = -1/3")


def test_fraction_states_are_described_readably():
    domain = CountdownDomain()
    assert domain.describe_state(PROBLEM, (8, "1/3", -5)) == "[8, 1/3, -5]"
    assert domain.step_note(PROBLEM, [8, "-8/3"]) == "Now I have [8, -8/3]."
    assert domain.verdict(PROBLEM, ("8/3",), False) == "8/3 is not 30."
    assert domain.verdict(PROBLEM, (2, "1/2"), False) == "[2, 1/2] cannot make 30."


def test_state_key_orders_mixed_values_exactly():
    domain = CountdownDomain()
    assert domain.state_key((8, "1/3", -5)) == (-5, Fraction(1, 3), 8)
    assert domain.state_key([3, "8/3"]) == domain.state_key(("8/3", 3)) != domain.state_key((3, "3/8"))
    assert domain.state_key((4, 2)) == domain.state_key((2, 4)) == (2, 4)


def test_huge_and_deeply_nested_input_is_a_step_error():
    with pytest.raises(StepError):
        apply_step((1, 3), "1" * 5000 + " + 3 = 4")
    with pytest.raises(StepError):
        apply_step((1, 3), "(" * 2000 + "1" + ")" * 2000 + " + 3 = 4")


# --- moves and the oracle ---------------------------------------------------------------------------


def brute_force_moves(state):
    """All valid (x, op, y, result) per pair of positions, by exact rational arithmetic over both orders."""
    moves = []
    for i, j in itertools.combinations(range(len(state)), 2):
        found = set()
        for x, y in ((state[i], state[j]), (state[j], state[i])):
            for op in "+-*/":
                if op in "+*" and (x, y) != (state[i], state[j]):
                    continue  # commutative: written in state order
                if op in "-/" and x < y:
                    continue  # written larger first
                if op == "/" and y == 0:
                    continue
                value = {"+": Fraction(x + y), "-": Fraction(x - y), "*": Fraction(x * y)}.get(op)
                value = Fraction(x, y) if op == "/" else value
                if value.denominator == 1 and value >= 0:
                    found.add((x, op, y, int(value)))
        moves.extend(found)
    return moves


@pytest.mark.parametrize("state", [(25, 19, 21, 16), (4, 4, 10, 10), (0, 5, 5), (12, 3), (1, 1, 1, 1), (9,)])
def test_legal_moves_match_brute_force_and_apply(state):
    moves = legal_moves(state)
    assert Counter(moves) == Counter(brute_force_moves(state))
    assert moves == legal_moves(state)
    for a, op, b, result in moves:
        rest = list(state)
        rest.remove(a)
        rest.remove(b)
        assert apply_step(state, format_move((a, op, b, result))) == (*rest, result)


def test_format_move():
    assert format_move((25, "-", 19, 6)) == "25 - 19 = 6"
    assert format_move((8, "/", "8/3", 3)) == "8 / (8/3) = 3"
    assert format_move((-5, "-", 2, -7)) == "(-5) - 2 = -7"


def test_sos_moves_stay_whole_and_non_negative():
    assert all(type(r) is int and r >= 0 for *_, r in legal_moves((3, 8, 5, 1)))
    assert legal_moves((-5, 2)) == [(2, "-", -5, 7)]


def brute_force_values(numbers, rational=False):
    """Every value that combining all the numbers can give, by splitting them into two groups each time: every
    exact result (rational) or only non-negative whole ones (stream-of-search moves)."""
    if len(numbers) == 1:
        return {Fraction(numbers[0])}
    values = set()
    indices = range(len(numbers))
    for size in range(1, len(numbers)):
        for left in itertools.combinations(indices, size):
            right = [numbers[k] for k in indices if k not in left]
            for x in brute_force_values([numbers[k] for k in left], rational):
                for y in brute_force_values(right, rational):
                    values.update((x + y, x * y))
                    if rational or x >= y:
                        values.add(x - y)
                    if y and (rational or x % y == 0):
                        values.add(x / y)
    return values


@pytest.mark.parametrize("moves", ["sos", "all"])
def test_reachable_matches_brute_force_on_random_instances(moves):
    rng = random.Random(7)
    for _ in range(150):
        numbers = tuple(rng.randint(0, 12) for _ in range(rng.randint(1, 4)))
        values = brute_force_values(list(numbers), rational=moves == "all")
        whole = sorted(int(v) for v in values if v.denominator == 1 and v >= 0)
        for target in [*rng.sample(range(60), 5), *rng.sample(whole, min(3, len(whole)))]:
            assert reachable(numbers, target, moves) == (target in values), (numbers, target)


def test_reachable_known_cases():
    assert reachable((4, 4, 10, 10), 24)  # (10 * 10 - 4) / 4
    assert not reachable((1, 1, 1, 1), 24)
    assert reachable((3, 3, 8, 8), 24)  # 8 / (3 - 8 / 3)
    assert not reachable((3, 3, 8, 8), 24, moves="sos")  # needs a fraction in between
    assert reachable((2, 3, 4, 5), 8) and reachable((1, 5, 5, 5), 24)  # 5 * (5 - 1 / 5)
    assert reachable((8, "1/3"), 24) and reachable(("8/3", 3, 8), 24) and reachable((-1, 25), 24)
    assert reachable((24,), 24) and not reachable(("24/1",), 25)
    assert not reachable((), 24)


@pytest.mark.parametrize("state", [(3, "8/3", 8), (-5, 2, 7), (1, 2, 3, 4)])
def test_all_moves_are_every_exact_result_and_apply(state):
    moves = legal_moves(state, "all")
    for a, b in itertools.combinations(state, 2):
        x, y = Fraction(a), Fraction(b)
        results = {x + y, x - y, y - x, x * y} | {x / y for _ in [0] if y} | {y / x for _ in [0] if x}
        found = {Fraction(r) for p, _, q, r in moves if {Fraction(p), Fraction(q)} == {x, y}}
        assert found == results
    for move in moves:
        rest = list(state)
        rest.remove(move[0])
        rest.remove(move[2])
        assert apply_step(state, format_move(move)) == (*rest, move[3])


# --- generation and loading -------------------------------------------------------------------------


def test_generator_is_deterministic_and_solvable():
    problems = generate_problems(20, seed=3)
    assert problems == generate_problems(20, seed=3)
    assert problems != generate_problems(20, seed=4)
    assert [p.id for p in problems] == [f"countdown-{i:06d}" for i in range(20)]
    for p in problems:
        assert len(p.numbers) == 4
        assert all(1 <= n <= 99 for n in p.numbers)
        assert 10 <= p.target <= 100
        assert reachable(p.numbers, p.target)


def test_generator_game_of_24():
    problems = generate_problems(10, seed=0, low=1, high=13, target=24)
    assert all(p.target == 24 and all(1 <= n <= 13 for n in p.numbers) for p in problems)
    assert all(reachable(p.numbers, 24) for p in problems)
    assert generate_problems(0, seed=0) == []


def test_generator_rejects_impossible_ranges():
    with pytest.raises(ValueError):
        generate_problems(1, seed=0, num_numbers=2, low=1, high=1, target=1000)


def write(tmp_path, text, name="problems.jsonl"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_problems_good_file(tmp_path):
    path = write(
        tmp_path,
        '{"id": "a", "numbers": [1, 2, 3, 4], "target": 10}\n\n{"numbers": [5, 5], "target": 25}\n',
    )
    assert load_problems(path) == [
        CountdownProblem("a", (1, 2, 3, 4), 10),
        CountdownProblem("problems-000003", (5, 5), 25),
    ]


def test_load_problems_tinyzero_names(tmp_path):
    path = write(tmp_path, '{"target": 98, "nums": [44, 19, 35]}\n', name="tz.jsonl")
    assert load_problems(str(path)) == [CountdownProblem("tz-000001", (44, 19, 35), 98)]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("{not json", ["invalid JSON"]),
        ("[1, 2]", ["object"]),
        ('{"target": 10}', ["'numbers'"]),
        ('{"numbers": [1, 2]}', ["'target'"]),
        ('{"numbers": [1, 2.5], "target": 10}', ["'numbers'", "integers"]),
        ('{"numbers": [1, true], "target": 10}', ["'numbers'", "integers"]),
        ('{"numbers": "12", "target": 10}', ["'numbers'", "integers"]),
        ('{"numbers": [], "target": 10}', ["'numbers'", "empty"]),
        ('{"numbers": [1, -2], "target": 10}', ["'numbers'", "negative"]),
        ('{"nums": [1, "2"], "target": 10}', ["'nums'"]),
        ('{"numbers": [1, 2], "target": "3"}', ["'target'"]),
        ('{"numbers": [1, 2], "target": false}', ["'target'"]),
        ('{"numbers": [1, 2], "target": 3, "id": 7}', ["'id'"]),
        ('{"id": "a", "numbers": [1, 2], "target": 3}', ["duplicate id 'a'", "line 1"]),
    ],
)
def test_load_problems_errors_name_file_and_line(tmp_path, line, words):
    path = write(tmp_path, '{"id": "a", "numbers": [1, 2], "target": 3}\n\n' + line + "\n")
    with pytest.raises(ProblemFileError) as info:
        load_problems(path)
    message = str(info.value)
    assert "problems.jsonl:3:" in message
    for word in words:
        assert word in message


# --- answers ----------------------------------------------------------------------------------------

PROBLEM = CountdownProblem("p", (25, 19, 21, 16), 30)


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("(25 - 19) * (21 - 16)", True),
        ("  (21 - 16) * (25 - 19) = 30 ", True),
        ("(25 - 19) * (21 - 16) = 31", False),
        ("(25 - 19) * (21 - 16) = 30 = 30", False),
        ("(25 - 19) + (21 - 16)", False),
        ("(25 - 19) * 5", False),
        ("(25 - 19) * (21 - 16) + 16 - 16", False),
        ("(25 - 25) * (21 - 16) + 30", False),
        ("", False),
        ("the answer is 30", False),
        ("__import__('os').system('true')", False),
        ("(lambda: 30)()", False),
        ("(" * 3000, False),
        ("9" * 10000, False),
    ],
)
def test_verify_answer(answer, ok):
    assert verify_answer(PROBLEM, answer) is ok


@pytest.mark.parametrize(
    ("numbers", "target", "answer", "reason"),
    [
        ((3, 3, 8, 8), 24, "8 / (3 - 8 / 3)", None),
        ((3, 3, 8, 8), 24, "8 / (3 - 8 / 3) = 24", None),
        ((2, 3, 4, 5), 8, "2 - 3 + 4 + 5", None),
        ((1, 5, 5, 5), 24, "(5 - 1 / 5) * 5", None),
        ((3, 3, 8, 8), 24, "8 / (3 - 3) * 8", "8 / 0 is a division by zero"),
        ((3, 3, 8, 8), 24, "8 / (3 - 8 / 3) = 25", "8 / (3 - 8 / 3) is 24, not 25"),
        ((3, 3, 8, 8), 24, "8 / (3 - 8 / 3) * 3 / 3", "it uses [3, 3, 3, 3, 8, 8], not each of [3, 3, 8, 8] once"),
        ((3, 3, 8, 8), 24, "8 * 3", "it uses [3, 8], not each of [3, 3, 8, 8] once"),
        ((3, 3, 8, 8), 24, "8 / 3 - 3 + 8", "it makes 23/3, not 24"),
        ((3, 3, 8, 8), 24, "8 / 3 * 3 / 8", "it makes 1, not 24"),
        ((3, 3, 8, 8), 24, "__import__('os').system('true')", "cannot parse"),
        ((3, 3, 8, 8), 24, "-8 / (3 - 8 / 3)", "cannot parse"),  # every number is a given one: no unary minus
    ],
)
def test_answers_use_exact_rational_arithmetic(numbers, target, answer, reason):
    problem = CountdownProblem("r", numbers, target)
    error = answer_error(problem, answer)
    assert verify_answer(problem, answer) is (reason is None)
    assert error == reason if reason is None else reason in error
    assert CountdownDomain().check_answer(problem, answer) is (reason is None)


def test_verify_answer_non_string_is_false():
    assert verify_answer(PROBLEM, None) is False


def test_solution_expression_round_trip():
    steps = ["25 - 19 = 6", "21 - 16 = 5", "6 * 5 = 30"]
    expression = solution_expression([25, 19, 21, 16], steps)
    assert expression == "(25 - 19) * (21 - 16)"
    assert verify_answer(PROBLEM, expression)


def test_solution_expression_tracks_duplicates_and_compound_steps():
    problem = CountdownProblem("d", (4, 4, 10, 10), 24)
    steps = ["10 * 10 = 100", "100 - 4 = 96", "96 / 4 = 24"]
    assert verify_answer(problem, solution_expression(problem.numbers, steps))
    # after "2 + 3 = 5" the state is [2, 5, 5]: the first 5 is the given one, the second is "2 + 3"
    expression = solution_expression((2, 3, 2, 5), ["2 + 3 = 5", "5 * 2 * 5 = 50"])
    assert expression == "(5 * 2) * (2 + 3)"
    assert verify_answer(CountdownProblem("f", (2, 3, 2, 5), 50), expression)


def test_solution_expression_needs_a_single_number_left():
    with pytest.raises(ValueError, match="not a single number"):
        solution_expression((1, 2, 3), ["1 + 2 = 3"])


def test_solution_expression_on_random_solved_paths():
    rng = random.Random(11)
    for problem in generate_problems(30, seed=5):
        state, steps = problem.numbers, []
        while len(state) > 1:
            moves = [m for m in legal_moves(state) if reachable(_after(state, m), problem.target)]
            move = rng.choice(moves)
            steps.append(format_move(move))
            state = apply_step(state, steps[-1])
        assert verify_answer(problem, solution_expression(problem.numbers, steps))


def _after(state, move):
    return apply_step(state, format_move(move))


# --- the domain -------------------------------------------------------------------------------------


def test_domain_step_outcomes():
    domain = get_domain("countdown")
    assert isinstance(domain, CountdownDomain)
    state = domain.root_state(PROBLEM)
    assert state == (25, 19, 21, 16)
    outcome = domain.apply_step(PROBLEM, state, "25 - 19 = 6")
    assert (outcome.state, outcome.terminal, outcome.correct) == ((21, 16, 6), False, None)
    assert outcome.error is None
    outcome = domain.apply_step(PROBLEM, [30, 1], "30 * 1 = 30")
    assert (outcome.state, outcome.terminal, outcome.correct) == ((30,), True, True)
    outcome = domain.apply_step(PROBLEM, (30, 1), "30 + 1 = 31")
    assert (outcome.terminal, outcome.correct) == (True, False)
    outcome = domain.apply_step(PROBLEM, state, "25 - 19 = 7")
    assert outcome.state is None and outcome.terminal and outcome.correct is False
    assert outcome.error == "25 - 19 is 6, not 7"


def test_domain_words():
    domain = CountdownDomain()
    problem = CountdownProblem("q", (19, 36, 55, 7), 65)
    assert domain.prompt(problem) == (
        "Using the numbers [19, 36, 55, 7], create an equation that equals 65. "
        "You can use basic arithmetic operations (+, -, *, /) and each number must be used exactly once. "
        "The arithmetic is exact: results in between may be fractions or negative. "
        "Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, "
        "for example <answer> (1 + 2) / 3 </answer>."
    )
    plain = domain.prompt(problem, think_tags=False)
    assert "<think>" not in plain and "<answer>" not in plain
    assert plain.endswith("give the final answer on a last line, for example Answer: (1 + 2) / 3")
    assert plain.startswith("Using the numbers [19, 36, 55, 7], create an equation that equals 65. ")
    assert domain.describe_state(PROBLEM, (21, 16, 6)) == "[21, 16, 6]"
    assert domain.verdict(PROBLEM, (30,), True) == "30 = 30, the target."
    assert domain.verdict(PROBLEM, (11,), False) == "11 is not 30."
    steps = ["25 - 19 = 6", "21 - 16 = 5", "6 * 5 = 30"]
    assert domain.check_answer(PROBLEM, domain.final_answer(PROBLEM, steps))
    assert not domain.check_answer(PROBLEM, "25 + 19")


def test_domain_dict_round_trip():
    domain = CountdownDomain()
    data = domain.problem_to_dict(PROBLEM)
    assert data == {"id": "p", "numbers": [25, 19, 21, 16], "target": 30}
    assert domain.problem_from_dict(data) == PROBLEM
    with pytest.raises(ValueError, match="'target'"):
        domain.problem_from_dict({"id": "p", "numbers": [1], "target": "x"})


def test_get_domain_unknown_names_the_known_ones():
    with pytest.raises(ValueError, match="'chess'.*countdown"):
        get_domain("chess")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"numbers": [1, 2, 3, 4, 5, 6, 7], "target": 24}', "7 numbers; at most 6 (the exact oracle's cost"),
        ('{"numbers": [9223372036854775807, 1], "target": 24}', "integers from 0 to 1000000"),
        ('{"numbers": [1000001, 1], "target": 24}', "integers from 0 to 1000000"),
        ('{"numbers": [1, 2], "target": 1000001}', "field 'target' must be an integer from 0 to 1000000"),
    ],
)
def test_problem_bounds_are_checked_at_load_with_file_and_line(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    path.write_text('{"numbers": [1, 2, 3], "target": 6}\n\n' + line + "\n")
    with pytest.raises(ProblemFileError) as caught:
        load_problems(path)
    assert str(caught.value).startswith(f"{path}:3: ")
    assert message in str(caught.value)


def test_a_problem_file_without_line_ends_is_refused_without_reading_it_all(tmp_path):
    with pytest.raises(ProblemFileError, match=r"^/dev/zero:1: a line longer than 1048576 bytes"):
        load_problems("/dev/zero")


def test_the_largest_problem_within_the_bounds_loads(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"numbers": [1000000, 0, 1, 2, 3, 4], "target": 1000000}\n')
    assert load_problems(path)[0].numbers == (1_000_000, 0, 1, 2, 3, 4)
