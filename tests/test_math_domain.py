"""The math domain: step semantics, the words traces use, linearized math trees, a scripted search, and the
generated problem set with every answer recomputed from its question."""

from __future__ import annotations

import ast
import re
from fractions import Fraction

import orjson
import pytest
from conftest import ScriptedPolicy, TablePRM, run_search

from metacot.linearize import LinearizeConfig, linearize
from metacot.problems import get_domain
from metacot.problems.math import MathDomain, MathProblem
from metacot.problems.math.answers import check
from metacot.problems.math.generate import KINDS, LEVELS, generate_math_problems
from metacot.search import MCTSConfig
from metacot.tree import SearchTree

PROBLEM = MathProblem("p1", "Solve for x: 2x + 3 = 13.", "5", {"level": 1})


@pytest.fixture(scope="module")
def domain() -> MathDomain:
    return MathDomain(max_depth=4)


# --- steps ------------------------------------------------------------------------------------------


def test_a_step_without_an_answer_goes_on(domain):
    outcome = domain.apply_step(PROBLEM, {"step": 1}, "Subtract 3 from both sides: 2x = 10.")
    assert (outcome.state, outcome.terminal, outcome.correct, outcome.error) == ({"step": 2}, False, None, None)


@pytest.mark.parametrize(
    ("step", "answer", "correct"),
    [
        ("So $x = \\boxed{5}$.", "5", True),
        ("Hence x = \\boxed{\\frac{10}{2}}", "\\frac{10}{2}", True),
        ("The answer is 5.", "5", True),
        ("So x = 6.5 and the answer is \\boxed{6.5}", "6.5", False),
    ],
)
def test_a_step_with_an_answer_ends_the_search(domain, step, answer, correct):
    outcome = domain.apply_step(PROBLEM, {"step": 0}, step)
    assert (outcome.state, outcome.terminal, outcome.correct, outcome.error) == (
        {"answer": answer},
        True,
        correct,
        None,
    )


@pytest.mark.parametrize("step", ["", "  \n\n ", "\t"])
def test_an_empty_step_is_an_error(domain, step):
    outcome = domain.apply_step(PROBLEM, {"step": 2}, step)
    assert (outcome.terminal, outcome.correct, outcome.error) == (True, False, "empty step")


def test_the_step_at_max_depth_without_an_answer_is_wrong(domain):
    assert not domain.apply_step(PROBLEM, {"step": 2}, "Think more.").terminal
    outcome = domain.apply_step(PROBLEM, {"step": 3}, "Think more.")
    assert (outcome.terminal, outcome.correct, outcome.error) == (True, False, "no final answer after 4 steps")
    assert domain.apply_step(PROBLEM, {"step": 3}, "\\boxed{5}").correct  # an answer there still counts


def test_an_overlong_answer_is_an_error(domain):
    outcome = domain.apply_step(PROBLEM, {"step": 0}, "\\boxed{" + "1" * 5000 + "}")
    assert outcome.terminal and outcome.correct is False and "5000 characters" in outcome.error


def test_states_survive_json(domain):
    state = domain.root_state(PROBLEM)
    for step in ("First.", "Second.", "\\boxed{5}"):
        state = orjson.loads(orjson.dumps(domain.apply_step(PROBLEM, state, step).state))
    assert state == {"answer": "5"}


def test_words_for_traces(domain):
    assert domain.describe_state(PROBLEM, {"step": 0}) == "the beginning"
    assert domain.describe_state(PROBLEM, {"step": 2}) == "step 2"
    assert domain.step_note(PROBLEM, {"step": 2}) == ""
    assert domain.verdict(PROBLEM, {"answer": "5"}, True) == "The answer 5 is correct."
    assert domain.verdict(PROBLEM, {"answer": "7"}, False) == "The answer 7 does not check out."


def test_prompt_answer_and_check(domain):
    prompt = domain.prompt(PROBLEM)
    assert prompt.startswith(PROBLEM.question)
    assert "step by step" in prompt and "blank line" in prompt and "\\boxed{}" in prompt
    assert domain.final_answer(PROBLEM, ["Subtract 3.", "So x = \\boxed{5}."]) == "\\boxed{5}"
    with pytest.raises(ValueError, match="no final answer"):
        domain.final_answer(PROBLEM, ["Subtract 3."])
    assert domain.check_answer(PROBLEM, "\\boxed{5}")
    assert domain.check_answer(PROBLEM, "5.0")
    assert not domain.check_answer(PROBLEM, "\\boxed{6}")
    assert not domain.check_answer(PROBLEM, None)


def test_problem_dicts(domain):
    assert domain.problem_from_dict(domain.problem_to_dict(PROBLEM)) == PROBLEM
    assert domain.problem_from_dict({"id": "a", "question": "Q", "answer": "1"}).meta == {}
    for bad, message in [
        ({"question": "Q", "answer": "1"}, "missing field 'id'"),
        ({"id": "a", "question": "", "answer": "1"}, "field 'question' must be a non-empty string"),
        ({"id": "a", "question": "Q", "answer": 1}, "field 'answer' must be a non-empty string"),
        ({"id": "a", "question": "Q", "answer": "1", "meta": []}, "field 'meta' must be an object"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            domain.problem_from_dict(bad)


def test_registered():
    assert isinstance(get_domain("math"), MathDomain)
    with pytest.raises(ValueError, match="max_depth"):
        MathDomain(max_depth=0)


# --- linearization ----------------------------------------------------------------------------------


def grow(tree: SearchTree, domain: MathDomain, parent: int, step: str) -> int:
    outcome = domain.apply_step(PROBLEM, tree.nodes[parent].state, step)
    node = tree.add_child(
        tree.nodes[parent],
        step,
        state=outcome.state,
        terminal=outcome.terminal,
        correct=outcome.correct,
        error=outcome.error,
    )
    tree.visit(node)
    return node.id


@pytest.fixture(scope="module")
def math_tree(domain) -> SearchTree:
    """A wrong first idea abandoned at the root, a wrong division abandoned at step 1, then the solution."""
    tree = SearchTree.with_root(PROBLEM.id, domain.problem_to_dict(PROBLEM), domain.root_state(PROBLEM), "hand")
    wrong = grow(tree, domain, 0, "Add 3 to both sides: 2x = 16.")
    grow(tree, domain, wrong, "So x = 8, and the answer is \\boxed{8}.")
    subtract = grow(tree, domain, 0, "Subtract 3 from both sides: 2x = 10.")
    grow(tree, domain, subtract, "Divide by 3: x = \\boxed{\\frac{10}{3}}.")
    divide = grow(tree, domain, subtract, "Divide both sides by 2: x = 5.")
    grow(tree, domain, divide, "So the answer is \\boxed{5}.")
    return tree


def body(record: dict) -> list[str]:
    completion = record["completion"]
    assert completion.endswith("</think>\n<answer> \\boxed{5} </answer>")
    return completion.removeprefix("<think>\n").split("\n</think>")[0].split("\n\n")


def test_metacot_backtracks_name_the_step_returned_to(math_tree, domain):
    record = linearize(math_tree, domain, "metacot", LinearizeConfig())
    lines = body(record)
    assert record["answer"] == "\\boxed{5}" and record["correct"] and record["num_backtracks"] == 2
    assert lines[0] == "Add 3 to both sides: 2x = 16."
    assert lines[1] == "So x = 8, and the answer is \\boxed{8}. The answer 8 does not check out."
    assert re.search(r"\b(go back|return) to the beginning\b", lines[2])
    assert lines[3] == "Subtract 3 from both sides: 2x = 10."
    assert lines[4].endswith("The answer \\frac{10}{3} does not check out.")
    assert re.search(r"\b(go back|return) to step 1\b", lines[5])
    assert lines[6:] == ["Divide both sides by 2: x = 5.", "So the answer is \\boxed{5}. The answer 5 is correct."]
    assert record["prompt"] == domain.prompt(PROBLEM)


def test_cot_is_the_solution_path(math_tree, domain):
    record = linearize(math_tree, domain, "cot", LinearizeConfig())
    assert body(record) == [
        "Subtract 3 from both sides: 2x = 10.",
        "Divide both sides by 2: x = 5.",
        "So the answer is \\boxed{5}. The answer 5 is correct.",
    ]
    assert record["num_backtracks"] == 0


def test_a_scripted_search_solves_a_math_problem(domain):
    steps = {
        "": ["Add 3 to both sides: 2x = 16.", "Subtract 3 from both sides: 2x = 10.", "   "],
        "Add 3 to both sides: 2x = 16.": ["So \\boxed{8}."],
        "Subtract 3 from both sides: 2x = 10.": ["Divide by 2: x = 5.", "Then \\boxed{5}."],
    }
    scores = {"Add 3 to both sides: 2x = 16.": 0.9, "Subtract 3 from both sides: 2x = 10.": 0.4}
    policy, prm = ScriptedPolicy(steps), TablePRM(scores, default=0.5)
    (tree,), _ = run_search([PROBLEM], "mcts", MCTSConfig(simulations=20, expand_width=3), policy, prm, domain)
    tree = SearchTree.from_dict(orjson.loads(orjson.dumps(tree.to_dict())))  # as a run directory keeps it
    assert tree.solved
    assert any(node.error == "empty step" for node in tree.nodes)
    record = linearize(tree, domain, "metacot", LinearizeConfig())
    assert record["answer"] == "\\boxed{5}"
    assert re.search(r"(go back|return) to the beginning", record["completion"])


# --- the generated problem set ----------------------------------------------------------------------


def evaluate(expression: str, x: Fraction | None = None) -> Fraction:
    """An arithmetic expression of the generator's questions, exactly (the test's own evaluator)."""
    text = re.sub(r"(\d)x", r"\1*x", expression.replace("×", "*").replace("÷", "/"))
    return _evaluate(ast.parse(text, mode="eval").body, x)


def _evaluate(node: ast.AST, x: Fraction | None) -> Fraction:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Fraction(node.value)
    if isinstance(node, ast.Name) and node.id == "x" and x is not None:
        return x
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, x)
    if isinstance(node, ast.BinOp):
        a, b = _evaluate(node.left, x), _evaluate(node.right, x)
        ops = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}
        return a / b if isinstance(node.op, ast.Div) else ops[type(node.op)]
    raise AssertionError(f"unexpected {ast.dump(node)}")


def numbers(pattern: str, question: str) -> list[Fraction]:
    match = re.search(pattern, question)
    assert match is not None, question
    return [Fraction(g) for g in match.groups()]


def solve(kind: str, level: int, question: str) -> Fraction:
    """The answer worked out again from the question's text."""
    if kind == "arithmetic":
        return evaluate(question.removeprefix("Compute ").removesuffix("."))
    if kind == "linear":
        left, right = question.removeprefix("Solve for x: ").removesuffix(".").split(" = ")
        at_0 = evaluate(left, Fraction(0)) - evaluate(right, Fraction(0))
        at_1 = evaluate(left, Fraction(1)) - evaluate(right, Fraction(1))
        return at_0 / (at_0 - at_1)  # where the line through (0, at_0) and (1, at_1) crosses zero
    match kind, level:
        case "fraction", 1:
            slices, eaten = numbers(r"into (\d+) equal slices .* eats (\d+)", question)
            return (slices - eaten) / slices
        case "fraction", 2:
            a, b, c, d = numbers(r"(\d+)/(\d+) full.*?(\d+)/(\d+)", question)
            return a / b - c / d
        case "fraction", 3:
            p, q, left = numbers(r"spends 1/(\d+) .* 1/(\d+) .* has \$(\d+) left", question)
            return left / ((1 - 1 / p) * (1 - 1 / q))
        case "percent", 1:
            p, n = numbers(r"What is (\d+)% of (\d+)\?", question)
            return p * n / 100
        case "percent", 2:
            cost, p = numbers(r"costs \$(\d+)\. .* (\d+)% off", question)
            return cost * (100 - p) / 100
        case "percent", 3:
            p, new = numbers(r"(\d+)% increase.*\$([\d.]+)\.", question)
            return new / (1 + p / 100)
    raise AssertionError(f"no solver for {kind} level {level}")


@pytest.fixture(scope="module")
def generated() -> list[MathProblem]:
    return generate_math_problems(120, seed=7)


def test_generated_answers_are_right(generated):
    for problem in generated:
        expected = solve(problem.meta["kind"], problem.meta["level"], problem.question)
        assert Fraction(problem.meta["value"]) == expected, problem


def test_generated_answers_check(generated):
    for problem in generated:
        value = Fraction(problem.meta["value"])
        assert check(str(value), problem.answer), problem  # "3/4" against "\frac{3}{4}"
        assert check(problem.answer, problem.answer)
        assert not check(str(value + 1), problem.answer), problem


def test_generation_is_seeded_and_covers_kinds_and_levels(generated):
    assert generate_math_problems(120, seed=7) == generated
    assert generate_math_problems(120, seed=8) != generated
    assert {(p.meta["kind"], p.meta["level"]) for p in generated} == {(k, lv) for k in KINDS for lv in LEVELS}
    assert len({p.id for p in generated}) == 120
    hard = generate_math_problems(10, seed=1, levels=(3,), kinds=("linear",))
    assert {(p.meta["kind"], p.meta["level"]) for p in hard} == {("linear", 3)}


def test_generation_rejects_unknown_levels_and_kinds():
    with pytest.raises(ValueError, match="unknown level 4"):
        generate_math_problems(3, seed=0, levels=(1, 4))
    with pytest.raises(ValueError, match="unknown kind 'geometry'"):
        generate_math_problems(3, seed=0, kinds=("geometry",))
