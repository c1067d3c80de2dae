"""The learn experiment's data: disjoint splits with held-out targets, every condition's records from the same
problems and trees, the controls as defined, and the statistics."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metacot.learn.conditions import (
    CONDITIONS,
    Sources,
    common_problems,
    condition_records,
    dropped_nodes,
    split_answer,
)
from metacot.learn.config import learn_config
from metacot.learn.evaluate import spread
from metacot.learn.experiment import synthesize
from metacot.learn.loops import caught, most_stale
from metacot.learn.splits import SplitSizes, learn_prompt, make_splits, problem_key, read_splits, write_splits
from metacot.learn.stats import bootstrap, chance, run_figures, samples_needed, within_tokens
from metacot.linearize.audit import audit_record
from metacot.problems.countdown import CountdownProblem, reachable


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.sampled_from([0.1, 0.3]), narrow=st.booleans())
def test_held_out_problems_share_nothing_with_training_and_their_targets_slice_is_unseen(seed, share, narrow):
    # narrow: repeats drawn often (numbers up to 6 leave some seeds too few problems for the held-out targets)
    ranges = {"high": 9, "target_low": 10, "target_high": 100} if narrow else {}
    sizes = SplitSizes(train=60, validation=10, heldout=20, heldout_new_targets=10, target_share=share, **ranges)
    splits = make_splits(sizes, seed)
    assert (len(splits.train), len(splits.validation), len(splits.heldout)) == (60, 10, 30)
    seen = {problem_key(p) for p in splits.train + splits.validation}
    assert not seen & {problem_key(p) for p in splits.heldout}
    every = splits.train + splits.validation + splits.heldout
    assert len({problem_key(p) for p in every}) == len(every)  # no problem twice, in any order of its numbers
    assert all(p.target not in splits.new_targets for p in splits.train + splits.validation)
    new = [p for p in splits.heldout if splits.has_new_target(p)]
    assert len(new) == 10 and splits.new_targets  # the slice: targets training never has
    assert len(splits.new_targets) == round(share * 91)
    assert all(reachable(p.numbers, p.target, moves="sos") for p in every)


def test_too_few_distinct_problems_is_an_error():
    with pytest.raises(ValueError, match="distinct problems"):
        make_splits(SplitSizes(train=50, validation=0, heldout=1, heldout_new_targets=1, high=3), seed=0)


def test_splits_read_back_as_written(tmp_path):
    splits = make_splits(SplitSizes(train=20, validation=5, heldout=5, heldout_new_targets=3), seed=4)
    write_splits(splits, tmp_path)
    assert read_splits(tmp_path) == splits
    assert make_splits(SplitSizes(train=20, validation=5, heldout=5, heldout_new_targets=3), seed=4) == splits


def test_learn_prompt_is_compact():
    problem = make_splits(SplitSizes(train=1, validation=0, heldout=0, heldout_new_targets=0), 0).train[0]
    a, b, c = problem.numbers
    assert learn_prompt(problem) == f"nums: {a} {b} {c} target: {problem.target}\n"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Sources:
    """Every search of every condition over 16 Countdown-3 problems, synthesized once."""
    out = tmp_path_factory.mktemp("learn")
    config = learn_config("smoke", {"out": str(out), "train_problems": 16, "noise": 0.2})
    splits = make_splits(config.sizes(), config.seed)
    write_splits(splits, out / "problems")
    return synthesize(out, config, splits.train, progress=False)


def records_of(sources: Sources) -> dict[str, list[dict]]:
    return {name: condition_records(name, sources) for name in CONDITIONS}


def test_every_condition_trains_on_the_same_problems_with_the_same_prompts(sources):
    ids = [p.id for p in sources.problems]
    assert len(ids) == 16  # every search solves Countdown-3 with the oracle PRM
    for name, records in records_of(sources).items():
        assert [r["problem_id"] for r in records] == ids, name
        assert [r["prompt"] for r in records] == [learn_prompt(p) for p in sources.problems]
        assert all(r["completion"].startswith("<think>") and r["condition"] == name for r in records)


def test_the_loop_stop_never_fires_on_a_training_record_of_any_condition(sources):
    window = learn_config("smoke").eval.loop_lines  # 16, as docs/learn.md recommends for the cpu size
    assert window is not None
    for name, records in records_of(sources).items():
        most = max(most_stale(r["completion"], window) for r in records)
        assert not caught(most + 3, window), (name, most)  # 3 lines short of it at least (cpu size: 9 of 16 at most)


def test_cot_is_the_solution_path_and_traces_are_longer(sources):
    records = records_of(sources)
    cot = {r["problem_id"]: r["completion"] for r in records["cot"]}
    for r in records["metacot-astar"]:
        assert len(r["completion"]) >= len(cot[r["problem_id"]])
        assert split_answer(r["completion"])[1] == split_answer(cot[r["problem_id"]])[1]  # the same answer
    assert all(c.count("\n") == 4 for c in cot.values())  # <think>, two steps, </think>, <answer>


def test_corrupted_keeps_its_own_answer_after_another_problems_trace(sources):
    records = records_of(sources)
    traces = {r["problem_id"]: split_answer(r["completion"])[0] for r in records["metacot-astar"]}
    answers = {r["problem_id"]: split_answer(r["completion"])[1] for r in records["cot"]}
    donors = []
    for r in records["corrupted"]:
        trace, answer = split_answer(r["completion"])
        assert answer == answers[r["problem_id"]]
        donor = [pid for pid, t in traces.items() if t == trace]
        assert donor and r["problem_id"] not in donor
        donors.append(donor[0])
    assert len(set(donors)) == len(donors)  # each trace given away once


def test_empty_is_think_tags_and_the_answer(sources):
    answers = {p.id: sources.record("cot", "astar", p.id)["answer"] for p in sources.problems}
    for r in condition_records("empty", sources):
        assert r["completion"] == f"<think></think>\n<answer> {answers[r['problem_id']]} </answer>"


def test_dropped_removes_failed_branches_only_and_keeps_the_solution_path(sources):
    rng = random.Random(0)
    removed_any = False
    for problem in sources.problems:
        tree = sources.trees["astar"][problem.id]
        path = set(tree.path_to(next(n.id for n in tree.nodes if n.correct)))
        off_path = {n.id for n in tree.nodes} - path
        chosen = dropped_nodes(tree, rng, 0.5)
        assert chosen <= off_path  # the solution path is never dropped
        assert all(c in chosen for n in chosen for c in tree.nodes[n].children)  # whole subtrees
        assert dropped_nodes(tree, rng, 0.0) == set() and dropped_nodes(tree, rng, 1.0) == off_path
        removed_any |= bool(chosen)
    assert removed_any
    full = {r["problem_id"]: r["completion"] for r in condition_records("metacot-astar", sources)}
    cot = {r["problem_id"]: r["completion"] for r in condition_records("cot", sources)}
    shorter = 0
    for r in condition_records("dropped", sources):
        tree = sources.trees["astar"][r["problem_id"]]
        audit = audit_record({**r, "format": "metacot", "correct": True}, tree, sources.domain)
        assert not audit.failures and audit.claims  # every sentence still true of the tree
        steps = [line for line in cot[r["problem_id"]].splitlines() if " = " in line]
        lines = r["completion"].splitlines()
        assert [line for line in lines if line in steps] == steps  # the solution path, in order
        assert len(lines) <= len(full[r["problem_id"]].splitlines())
        shorter += len(r["completion"]) < len(full[r["problem_id"]])
    assert shorter > 0


def test_sos_is_a_dfs_or_bfs_log(sources):
    for r in condition_records("sos", sources):
        logs = {sources.record("sos", search, r["problem_id"])["completion"] for search in ("dfs", "bfs")}
        assert r["completion"] in logs and "Current State:" in r["completion"]


def test_only_problems_every_search_solved_are_trained_on(sources):
    trees = {search: dict(by_id) for search, by_id in sources.trees.items()}
    left_out = sources.problems[0].id
    del trees["mcts"][left_out]
    kept = common_problems(sources.problems, trees)
    assert [p.id for p in kept] == [p.id for p in sources.problems[1:]]


def attempt(correct: bool, tokens: int, valid: bool = True) -> dict:
    return {"text": "", "tokens": tokens, "answer": None, "correct": correct, "valid": valid, "steps": 0,
            "invalid_reason": None}


def test_best_of_n_counts_samples_only_within_the_generated_token_budget():
    result = {"greedy": attempt(False, 10), "samples": [attempt(False, 40), attempt(False, 40), attempt(True, 40)]}
    assert within_tokens(119)(result) == 0.0  # the right sample ends past the budget
    assert within_tokens(120)(result) == 1.0
    assert within_tokens(30)({"samples": [attempt(True, 31)]}) == 0.0


def test_figures_separate_new_targets_and_right_answers_through_invalid_traces():
    results = [
        {"greedy": attempt(True, 5, valid=False), "samples": [], "new_target": False},
        {"greedy": attempt(True, 5), "samples": [], "new_target": True},
        {"greedy": attempt(False, 5), "samples": [], "new_target": True},
    ]
    figures = run_figures(results, budget=10)
    assert figures["pass1"] == pytest.approx(2 / 3) and figures["pass1_new_targets"] == 0.5
    assert figures["right_invalid"] == pytest.approx(1 / 3) and figures["valid"] == pytest.approx(2 / 3)


def test_bootstrap_interval_over_problems_and_seeds():
    constant = np.ones((3, 50))
    assert bootstrap(constant, 200) == (1.0, 1.0, 1.0)
    rng = np.random.default_rng(1)
    values = (rng.random((3, 400)) < 0.3).astype(float)
    mean, low, high = bootstrap(values, 1000)
    assert low < mean < high and 0.02 < high - low < 0.1  # about +-2.6 points for 1,200 draws at 30%
    one_seed_differs = np.vstack([np.zeros(100), np.ones(100)])
    _, low, high = bootstrap(one_seed_differs, 1000)
    assert low == 0.0 and high == 1.0  # seeds resampled too: a seed effect widens the interval


def test_a_model_gets_the_samples_the_equal_token_budget_can_use():
    assert samples_needed(budget=2000, mean_tokens=120, most=8) == 8  # a short answer: as many as allowed
    assert samples_needed(budget=2000, mean_tokens=2000, most=8) == 2  # the longest condition: one, and a spare
    assert samples_needed(budget=2000, mean_tokens=350, most=8) == 7  # 6 fit (5.7 rounded up), one spare
    assert samples_needed(budget=2000, mean_tokens=350, most=0) == 0


def test_sampled_figures_count_only_the_problems_that_got_samples():
    results = [
        {"greedy": attempt(False, 5), "samples": [attempt(True, 5)], "sampled": True},
        {"greedy": attempt(True, 5), "samples": [], "sampled": False},  # right, but never sampled
    ]
    figures = run_figures(results, budget=100)
    assert figures["pass1"] == 0.5  # every problem
    assert figures["best_of_n"] == figures["pass_n"] == 1.0  # the sampled one only
    assert spread(10, 3) == [0, 3, 6] and spread(4, 9) == [0, 1, 2, 3] and spread(5, None) == [0, 1, 2, 3, 4]


def test_chance_is_the_share_of_random_legal_walks_that_end_at_the_target():
    # [2, 3, 5] -> 25: 9 first moves; only 2 + 3 = 5 leads on, to [5, 5], whose 4 moves include 5 * 5 = 25
    assert chance(CountdownProblem("p", (2, 3, 5), 25)) == pytest.approx(1 / 9 * 1 / 4)
    assert chance(CountdownProblem("p", (1, 1), 7)) == 0.0
    assert chance(CountdownProblem("p", (4, 3), 7)) == pytest.approx(1 / 3)  # 4 + 3, 4 - 3, 4 * 3


def test_generation_runs_on_trainings_threads_unless_told():
    from metacot.learn.experiment import generation

    assert generation(learn_config("cpu", {"train": {"threads": 1}}), 3, 100).threads == 1  # --jobs 2 --threads 1
    assert generation(learn_config("cpu", {"train": {"threads": 1}, "eval": {"threads": 2}}), 3, 100).threads == 2
    settings = generation(learn_config("cpu"), 3, 162)
    assert (settings.samples, settings.max_new_tokens) == (3, 162)  # twice cot's longest answer, say
    assert generation(learn_config("cpu"), 3, 10**6).max_new_tokens == learn_config("cpu").eval.max_new_tokens


def test_a_difference_is_paired_by_problem_and_its_interval_excludes_zero_only_when_it_should():
    from metacot.learn.stats import difference

    rng = np.random.default_rng(0)
    hard = rng.random(300) < 0.5  # problems differ a lot, conditions little: pairing is what makes it visible
    base = np.tile(hard, (3, 1)).astype(float)
    better = base.copy()
    better[:, :30] = 1.0  # solves 30 more problems (those it missed among the first 30)
    mean, low, high = difference(better, base, 2000)
    assert mean == pytest.approx(better.mean() - base.mean()) and 0 < low <= mean <= high
    mean, low, high = difference(base, base, 2000)
    assert (mean, low, high) == (0.0, 0.0, 0.0)
    assert np.isnan(difference(np.zeros((0, 0)), base, 10)[0])
