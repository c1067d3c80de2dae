"""Priming datasets and the structural tagger: every variant shows the habits it names and none it excludes, every
plan sentence is arithmetically true (checked here by an independent parser and brute force), answers are right
or (no_positive) wrong, dots match lengths, trace records' backtracks are counted exactly, and math runs work."""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from itertools import combinations, pairwise

import orjson
import pytest

from metacot.behaviors.definitions import BEHAVIORS
from metacot.behaviors.measure.structural import StructuralTagger
from metacot.behaviors.prime.report import EXCLUDED, SHOWN
from metacot.behaviors.prime.variants import VARIANTS
from metacot.cli import main
from metacot.linearize import LinearizeConfig
from metacot.outputs.rundir import RunDir
from metacot.problems.countdown import evaluate_expression
from metacot.problems.math import MathDomain, MathProblem
from metacot.synth import relinearize
from metacot.tree import SearchTree

BACKWARD = re.compile(r"Working backwards, (-?\d+) = (\S+) ([-+*/]) (\S+), so I need (\d+) from \[([^\]]*)\]\.")
SUBGOAL = re.compile(
    r"First I'll try to get (\d+)(?: \(([^)]*)\))? from \[([^\]]*)\](?:; then \[([^\]]*)\] could still make "
    r"(\d+))?\."
)
TRIES = re.compile(r"Can (\S+) and (\S+) make (\d+)\? (.*)\. None of them is (\d+), so that way is out\.")
LISTED = re.compile(r"(\S+) ([-+*/]) (\S+) = ([^,]+)")
STATE = re.compile(r"(?:Now I have|go back to|return to|back to|again from) \[([^\]]*)\]")
STEP = re.compile(r"(\S+) ([-+*/]) (\S+) = (\S+)\.")
GO_BACK = re.compile(r"(?:go back to|return to|Going back to|pick up again from) \[")
# words that only the habits' sentences use: what an excluded habit must never leave in the text
HABIT_WORDS = {
    "verification": ("is not", "the target", "closest"),
    "backtracking": ("go back", "return to", "pick up again", "Going back", "dead end", "doesn't work", "didn't work"),
    "subgoal_setting": ("First I'll try", "the subgoal"),
    "backward_chaining": ("Working backwards", "I need"),
}


def numbers(text: str) -> list[Fraction]:
    return [Fraction(n) for n in text.split(", ")] if text else []


def combine(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    if op == "/":
        return a / b if b else None
    return a + b if op == "+" else a - b if op == "-" else a * b


def reach(values: list[Fraction], goal: Fraction) -> bool:
    """Whether all the values combine to the goal with + - * / over exact fractions (brute force)."""
    if len(values) == 1:
        return values[0] == goal
    for i, j in combinations(range(len(values)), 2):
        rest = [v for k, v in enumerate(values) if k not in (i, j)]
        for a, b in ((values[i], values[j]), (values[j], values[i])):
            for op in "+-*/":
                made = combine(a, op, b)
                if made is not None and reach([*rest, made], goal):
                    return True
    return False


def rules_out(line: str, need: Fraction, rest: list[Fraction]) -> bool:
    """Whether the line tries every step from the two numbers `rest`, each written true, and none makes `need`."""
    m = TRIES.fullmatch(line)
    if m is None or Counter(numbers(f"{m[1]}, {m[2]}")) != Counter(rest) or {Fraction(m[3]), Fraction(m[5])} != {need}:
        return False
    listed = [(Fraction(a), op, Fraction(b), Fraction(r)) for a, op, b, r in LISTED.findall(m[4])]
    every = {combine(a, op, b) for a, b in (rest, rest[::-1]) for op in "+-*/"} - {None}
    true = all(Counter([a, b]) == Counter(rest) and combine(a, op, b) == r for a, op, b, r in listed)
    return true and {r for *_, r in listed} == every and need not in every


def check_plans(completion: str, start: list[Fraction], target: int, solved: bool = True) -> tuple[int, int]:
    """Check every backward chain and subgoal against the state the text stands at; (chains, subgoals) seen. A
    chain's needed number can be made from the rest in a trace that answers right (`solved`); a line that rules a
    chain out follows it and is true."""
    state, seen, chain = list(start), [0, 0], (Fraction(0), list[Fraction]())
    for line in completion.split("\n"):
        previous, chain = chain, (Fraction(0), [])
        if line.startswith("Can "):
            assert rules_out(line, *previous), (line, previous)
        if m := BACKWARD.fullmatch(line):
            goal, left, op, right, need, rest = m.groups()
            left_v, right_v, need_v, rest_v = Fraction(left), Fraction(right), Fraction(need), numbers(rest)
            assert int(goal) == target and combine(left_v, op, right_v) == target, line
            assert need_v in (left_v, right_v), line
            other = right_v if need_v == left_v and left_v != right_v else left_v
            assert Counter([other, *rest_v]) == Counter(state), (line, state)
            assert len(rest_v) >= 2 and (reach(rest_v, need_v) or not solved), line
            seen[0] += 1
            chain = (need_v, rest_v)
        elif m := SUBGOAL.fullmatch(line):
            value, why, part, then, goal = m.groups()
            value_v, part_v, then_v = Fraction(value), numbers(part), numbers(then)
            assert value_v != target, line
            assert not Counter(part_v) - Counter(state) and 2 <= len(part_v) < len(state), (line, state)
            assert reach(part_v, value_v) and value_v not in part_v, line
            if then is not None:
                assert Counter(then_v) == Counter(state) - Counter(part_v) + Counter([value_v]), line
                assert int(goal) == target and reach(then_v, Fraction(target)), line
            if why is not None:
                assert_relation(why, value_v, target)
            seen[1] += 1
        elif m := STATE.search(line):
            state = numbers(m[1])
    return seen[0], seen[1]


def assert_relation(why: str, value: Fraction, target: int) -> None:
    if why == f"a factor of {target}":
        assert target % value == 0
    elif why == f"a multiple of {target}":
        assert value % target == 0
    else:
        assert why == f"near {target}" and abs(value - target) <= max(10, target / 4), why


def read(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def think(record: dict) -> str:
    return record["completion"].split("<think>")[1].split("</think>")[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("prime") / "run"
    assert main(["synth", "--out", str(out), "--num-problems", "40", "--no-progress"]) == 0
    assert main(["prime", str(out), "--variant", "all", "--report"]) == 0
    return out


@pytest.fixture(scope="module")
def primed(run) -> dict[str, list[dict]]:
    return {name: read(run / "prime" / f"{name}.jsonl") for name in VARIANTS}


@pytest.fixture(scope="module")
def problems(run) -> dict[str, dict]:
    return {tree.problem_id: tree.problem for tree in RunDir(run).iter_trees()}


def test_every_variant_shows_what_it_names_and_nothing_it_excludes(run, primed):
    tagger = StructuralTagger(run)
    for name, records in primed.items():
        variant = VARIANTS[name]
        assert len(records) >= 30, name
        counts = tagger.tag(records)
        for habit in BEHAVIORS:
            share = sum(c.shows(habit) for c in counts) / len(counts)
            if habit in variant.shows:
                assert share >= SHOWN, (name, habit, share)
            else:
                assert share <= EXCLUDED, (name, habit, share)
                assert not any(w in think(r) for r in records for w in HABIT_WORDS[habit]), (name, habit)
        assert [{h: c.counts[h] for h in BEHAVIORS} for c in counts] == [r["behaviors"] for r in records], name
        assert [c.counts["strict_backtracking"] for c in counts] == [r["num_backtracks"] for r in records], name


def test_every_backtrack_says_first_that_the_finished_path_missed(primed, problems):
    """What makes each priming backtrack strict: it leaves a finished step that missed, and says so first."""
    for name, records in primed.items():
        for record in records:
            lines = think(record).strip("\n").split("\n")
            for before, line in pairwise(lines):
                if GO_BACK.search(line):
                    step = STEP.match(before)
                    assert step and "Now I have" not in before, (name, before, line)
                    assert Fraction(step[4]) != problems[record["problem_id"]]["target"], (name, before)
                    assert line.startswith(("That path doesn't work.", "This path is a dead end.", "That didn't")), line


def test_every_plan_sentence_is_arithmetically_true(primed, problems):
    chains = subgoals = 0
    for name in ("all_strategies", "backtracking_subgoal", "backtracking_backward", "no_positive"):
        for record in primed[name]:
            problem = problems[record["problem_id"]]
            start = [Fraction(n) for n in problem["numbers"]]
            seen = check_plans(think(record), start, problem["target"], name != "no_positive")
            chains, subgoals = chains + seen[0], subgoals + seen[1]
            assert seen[0] == record["behaviors"]["backward_chaining"], record["completion"]
            assert seen[1] == record["behaviors"]["subgoal_setting"], record["completion"]
    assert chains > 100 and subgoals > 100


def test_no_positive_answers_are_all_wrong_and_every_other_answer_right(primed, problems):
    for name, records in primed.items():
        for record in records:
            problem = problems[record["problem_id"]]
            value, used = evaluate_expression(record["answer"])
            right = value == problem["target"] and sorted(used) == sorted(map(Fraction, problem["numbers"]))
            assert right is (name != "no_positive") is record["correct"], (name, record["answer"])
            assert record["completion"].endswith(f"<answer> {record['answer']} </answer>")


def test_the_structural_backtrack_count_is_each_trace_records_num_backtracks(run):
    tagger = StructuralTagger(run)
    for fmt in ("metacot", "tokens", "sos", "cot"):
        records = read(run / "traces" / f"{fmt}.jsonl")
        counts = tagger.tag(records)
        assert [c.counts["backtracking"] for c in counts] == [r["num_backtracks"] for r in records]
        assert all(c.counts["verification"] >= 1 for c in counts)  # every record checks its answer
        assert not any(c.counts["subgoal_setting"] or c.counts["backward_chaining"] for c in counts)
    metacot = read(run / "traces" / "metacot.jsonl")
    by_text = [think(r).count(" is not ") + think(r).count(", the target.") for r in metacot]
    assert [c.counts["verification"] for c in tagger.tag(metacot)] >= by_text  # verdicts, plus failed steps


def runs(text: str) -> list[list[str]]:
    """The lines of each path: the runs between go-backs."""
    found: list[list[str]] = [[]]
    for line in text.strip("\n").split("\n"):
        if GO_BACK.search(line):
            found.append([])
        else:
            found[-1].append(line)
    return found


def follow(text: str, target: int) -> Counter[str]:
    """Subgoals and whether a later step of their path makes them; backward chains and whether a later step of
    their path makes the needed number (then one the target: completed) or the next line rules it out (followed)."""
    seen: Counter[str] = Counter()
    for path in runs(text):
        for i, line in enumerate(path):
            made = [Fraction(m[4]) for later in path[i + 1 :] if (m := STEP.match(later))]
            if m := SUBGOAL.fullmatch(line):
                seen["subgoals"] += 1
                seen["pursued"] += Fraction(m[1]) in made
            elif m := BACKWARD.fullmatch(line):
                need = Fraction(m[5])
                seen["chains"] += 1
                ruled_out = i + 1 < len(path) and rules_out(path[i + 1], need, numbers(m[6]))
                seen["completed"] += need in made and target in made[made.index(need) :]
                seen["followed"] += need in made or ruled_out
    return seen


def wins_left_behind(text: str, start: list[Fraction], target: int) -> int:
    """States of two numbers the text shows that make the target in one step, from which it writes no such step."""
    state, shown, won = list(start), [], set()
    for line in text.split("\n"):
        if (m := STEP.match(line)) and Fraction(m[4]) == target:
            won.add(tuple(sorted(map(Fraction, (m[1], m[3])))))
        if m := STATE.search(line):
            state = numbers(m[1])
        shown.append(tuple(sorted(state)))
    return len({s for s in shown if len(s) == 2 and reach(list(s), Fraction(target))} - won)


def test_plans_are_woven_from_the_path_the_trace_then_takes(primed, problems):
    for name in ("all_strategies", "backtracking_subgoal", "backtracking_backward", "no_positive"):
        seen: Counter[str] = Counter()
        for record in primed[name]:
            seen += follow(think(record), problems[record["problem_id"]]["target"])
        if VARIANTS[name].shows & {"subgoal_setting"}:
            assert seen["pursued"] >= 0.9 * seen["subgoals"] > 0, (name, seen)
        if name == "no_positive":  # a chain completed would reach the target
            assert seen["chains"] > 0 and seen["completed"] == 0, seen
            assert seen["followed"] == seen["chains"], seen  # none stated, then dropped unsaid
        elif "backward_chaining" in VARIANTS[name].shows:
            assert seen["completed"] >= 0.9 * seen["chains"] > 0, (name, seen)


def test_no_trace_leaves_a_one_step_win_behind(primed, problems):
    for name, records in primed.items():
        for record in records:
            problem = problems[record["problem_id"]]
            start = [Fraction(n) for n in problem["numbers"]]
            assert wins_left_behind(think(record), start, problem["target"]) == 0, (name, record["completion"])


def test_wrong_answers_come_from_trying_every_step_at_each_dead_end(primed, problems):
    for record in primed["no_positive"]:
        text, target = think(record), problems[record["problem_id"]]["target"]
        steps = [m for line in text.split("\n") if (m := STEP.match(line))]
        tried = Counter(tuple(sorted(map(Fraction, (m[1], m[3])))) for m in steps)
        last = [tuple(sorted(numbers(m[1]))) for m in STATE.finditer(text) if len(numbers(m[1])) == 2]
        assert last and all(tried[state] >= 3 for state in last), text  # +, - and * at least, from each
        assert not any(reach(list(state), Fraction(target)) for state in last), text


def test_the_substance_reader_finds_what_the_old_traces_did():
    from metacot.behaviors.prime.substance import read_substance

    old = "\n".join(
        (
            "First I'll try to get 12 from [19, 7]; then [25, 8, 12] could still make 71.",
            "25 - 19 = 6. Now I have [7, 8, 6].",
            "Working backwards, 24 = 27 - 3, so I need 3 from [9, 18].",
            "27 / 3 = 9. 9 is not 24.",
            "Let me return to [27, 3] and try a different step.",
            "27 + 3 = 30. 30 is not 24.",
        )
    )
    found = read_substance(old, [27, 3], 24)
    assert (found.subgoals, found.pursued, found.chains, found.completed, found.win_skips) == (1, 0, 1, 0, 1)
    chain = "Working backwards, 49 = 71 - 22, so I need 22 from [27, 40]."
    tries = "Can 27 and 40 make {}? 27 + 40 = 67, 27 - 40 = -13. None of them is {}, so that way is out."
    assert read_substance(f"{chain}\n{tries.format(22, 22)}", [71, 27, 40], 49).chains_pursued == 1
    assert read_substance(chain, [71, 27, 40], 49).chains_pursued == 0  # stated, then dropped unsaid
    assert read_substance(f"{chain}\n{tries.format(67, 67)}", [71, 27, 40], 49).chains_pursued == 0  # not its number
    woven = "First I'll try to get 12 from [19, 7].\n19 - 7 = 12. Now I have [12, 2].\n12 * 2 = 24. 24 = 24, the target"
    found = read_substance(woven, [19, 7, 2], 24)
    assert (found.subgoals, found.pursued, found.win_skips) == (1, 1, 0)


def test_empty_and_dots_keep_the_length_in_characters(primed):
    full = {r["problem_id"]: think(r).strip("\n") for r in primed["all_strategies"]}
    for record in primed["dots_cot"]:
        dots = think(record).strip("\n")
        assert set(dots) == {" ", "."} and len(dots) == len(full[record["problem_id"]])
        assert record["think_length"] == {"unit": "chars", "length": len(dots)}
    assert all(r["completion"].startswith("<think> </think>\n<answer> ") for r in primed["empty_cot"])


def test_dots_match_the_length_in_tokens(run, primed, tmp_path):
    from tiny_models import build_tokenizer

    tokenizer = build_tokenizer(tmp_path / "tok")
    out = tmp_path / "dots.jsonl"
    flags = ["--variant", "dots_cot", "--records", "8", "--tokenizer", str(tmp_path / "tok"), "--out", str(out)]
    assert main(["prime", str(run), *flags]) == 0
    full = {r["problem_id"]: think(r).strip("\n") for r in primed["all_strategies"]}

    def tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    for record in read(out):
        assert tokens(think(record).strip("\n")) == tokens(full[record["problem_id"]]) > 0


def test_records_sizes_and_seed(run, tmp_path):
    out = tmp_path / "many.jsonl"
    assert main(["prime", str(run), "--variant", "only_backtracking", "--records", "70", "--out", str(out)]) == 0
    records = read(out)
    assert len(records) == 70 and len({(r["problem_id"], r["seed"]) for r in records}) == 70  # 2nd draws
    again = tmp_path / "again.jsonl"
    assert main(["prime", str(run), "--variant", "only_backtracking", "--records", "70", "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
    assert main(["prime", str(run), "--variant", "only_backtracking", "--out", str(out)]) == 0
    assert main(["prime", str(run), "--variant", "only_backtracking", "--sizes", "4", "--out", str(again)]) == 0
    assert read(again) == read(out) != []  # the run's problems all have four numbers


def test_a_size_the_run_has_no_tree_of_is_refused_and_writes_nothing(run, tmp_path, capsys):
    out = tmp_path / "none.jsonl"
    assert main(["prime", str(run), "--variant", "only_backtracking", "--sizes", "3:1,4:1", "--out", str(out)]) == 2
    assert "--sizes: the run has no finished tree of [3] numbers (its trees have [4])" in capsys.readouterr().err
    assert not out.exists()


def test_bad_settings_name_the_flag(run, capsys):
    assert main(["prime", str(run), "--variant", "nope"]) == 2
    assert "--variant: unknown variant 'nope'" in capsys.readouterr().err
    assert main(["prime", str(run), "--variant", "all", "--out", "x.jsonl"]) == 2
    assert "--out names one file" in capsys.readouterr().err


# --- math -------------------------------------------------------------------------------------------------------

PROBLEM = MathProblem("p1", "Solve for x: 2x + 3 = 13.", "5", {"level": 1})


def math_tree(domain: MathDomain) -> SearchTree:
    """Two wrong answers, then the solution."""
    tree = SearchTree.with_root(PROBLEM.id, domain.problem_to_dict(PROBLEM), domain.root_state(PROBLEM), "hand")

    def grow(parent: int, step: str) -> int:
        outcome = domain.apply_step(PROBLEM, tree.nodes[parent].state, step)
        node = tree.add_child(tree.nodes[parent], step, state=outcome.state, terminal=outcome.terminal)
        node.correct, node.error = outcome.correct, outcome.error
        tree.visit(node)
        return node.id

    wrong = grow(0, "Add 3 to both sides: 2x = 16.")
    grow(wrong, "So x = 8, and the answer is \\boxed{8}.")
    subtract = grow(0, "Subtract 3 from both sides: 2x = 10.")
    grow(subtract, "Divide by 3: x = \\boxed{\\frac{10}{3}}.")
    grow(grow(subtract, "Divide both sides by 2: x = 5."), "So the answer is \\boxed{5}.")
    return tree


@pytest.fixture(scope="module")
def math_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("math") / "run"
    domain = MathDomain()
    directory = RunDir(out)
    directory.open({"problems": {"domain": "math"}}, "hash", 0)
    directory.append(math_tree(domain))
    directory.close()
    relinearize(out, LinearizeConfig())
    return out


def test_math_runs_are_tagged_and_primed(math_run, capsys):
    tagger = StructuralTagger(math_run)
    for fmt in ("metacot", "tokens", "cot"):
        records = read(math_run / "traces" / f"{fmt}.jsonl")
        counts = tagger.tag(records)
        assert [c.counts["backtracking"] for c in counts] == [r["num_backtracks"] for r in records]
        assert counts[0].counts["verification"] == (3 if fmt != "cot" else 1)
    assert main(["prime", str(math_run), "--variant", "all", "--report"]) == 0
    written = sorted(p.stem for p in (math_run / "prime").glob("*.jsonl"))
    assert "all_strategies" not in written and "no_positive" in written and "backtracking_verification" in written
    wrong = read(math_run / "prime" / "no_positive.jsonl")[0]
    assert not wrong["correct"] and wrong["answer"] != "\\boxed{5}" and wrong["behaviors"]["verification"] >= 2
    for name in ("all_strategies", "backtracking_subgoal", "backtracking_backward"):
        assert main(["prime", str(math_run), "--variant", name]) == 2
        assert "is Countdown-only; a math run cannot write it" in capsys.readouterr().err
