"""The experiment's figures from per-problem evaluations: pass@1, best-of-n at equal generated tokens, validity, the
held-out-target slice, the chance level, and 95% bootstrap intervals over problems and seeds."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial

import numpy as np

from metacot.problems.countdown import CountdownProblem
from metacot.problems.countdown.oracle import legal_moves
from metacot.problems.countdown.parse import Number

Outcome = Callable[[dict], float]  # one problem's evaluation -> its value of a figure (0 or 1)


def greedy_correct(result: dict) -> float:
    return float(result["greedy"]["correct"])


def greedy_valid(result: dict) -> float:
    return float(result["greedy"]["valid"])


def right_through_invalid(result: dict) -> float:
    """A right answer reached through an invalid trace."""
    greedy = result["greedy"]
    return float(greedy["correct"] and not greedy["valid"])


def any_sample_correct(result: dict) -> float:
    return float(any(s["correct"] for s in result["samples"]))


def within_tokens(budget: float) -> Outcome:
    """Best-of-n at equal generated tokens (the Backtrack paper's protocol): solved when a sample taken, in order,
    before the cumulative generated tokens exceed the budget is correct."""

    def outcome(result: dict) -> float:
        spent = 0
        for sample in result["samples"]:
            spent += sample["tokens"]
            if spent > budget:
                return 0.0
            if sample["correct"]:
                return 1.0
        return 0.0

    return outcome


def new_target(result: dict) -> float:
    """A held-out problem whose target training never had."""
    return float(bool(result.get("new_target")))


def sampled(result: dict) -> float:
    """A problem that got samples (eval.sampled_problems chooses which)."""
    return float(bool(result["samples"]))


def greedy_looped(result: dict) -> float:
    """A greedy answer stopped for looping (eval.loop_lines)."""
    return float(result["greedy"].get("stopped") == "loop")


def greedy_tokens(result: dict) -> float:
    return float(result["greedy"]["tokens"])


@dataclass(frozen=True)
class Figure:
    name: str
    help: str
    outcome: Outcome
    only: Outcome | None = None  # measured on the problems where this is true (None: every problem)
    share: bool = True  # a share of problems (shown in %), not an amount


def figures(budget: float) -> list[Figure]:
    """Every figure of a condition, best-of-n at `budget` generated tokens per problem."""
    return [
        Figure("pass1", "solved by the greedy answer (pass@1)", greedy_correct),
        Figure("pass1_new_targets", "pass@1 on the held-out targets", greedy_correct, only=new_target),
        Figure(
            "best_of_n", f"solved by samples within {budget:g} generated tokens", within_tokens(budget), only=sampled
        ),
        Figure("pass_n", "solved by any sample (pass@n)", any_sample_correct, only=sampled),
        Figure("valid", "greedy answers whose trace is valid", greedy_valid),
        Figure("right_invalid", "right answer through an invalid trace", right_through_invalid),
        Figure("looped", "greedy answers stopped for repeating their own lines (eval.loop_lines)", greedy_looped),
        Figure("tokens", "generated tokens of the greedy answer", greedy_tokens, share=False),
    ]


def chance(problem: CountdownProblem) -> float:
    """The probability that steps chosen uniformly at random among the legal ones (Stream of Search's moves, the
    traces' own) end at the target: what a model that reads the prompt but not the arithmetic would solve."""
    return _walk(tuple(problem.numbers), problem.target)


@cache
def _walk(numbers: tuple[Number, ...], target: int) -> float:
    if len(numbers) == 1:
        return float(numbers[0] == target)
    moves = legal_moves(numbers)
    solved = [_walk(_after(numbers, a, b, result), target) for a, _, b, result in moves]
    return sum(solved) / len(moves)


def _after(numbers: tuple[Number, ...], a: Number, b: Number, result: Number) -> tuple[Number, ...]:
    rest = list(numbers)
    rest.remove(a)
    rest.remove(b)
    return (*rest, result)


def samples_needed(budget: float, mean_tokens: float, most: int) -> int:
    """Samples a model whose answers run to `mean_tokens` on average can use within `budget` generated tokens: as
    many as fit, one more for answers shorter than the mean, at most `most`."""
    return min(most, math.ceil(budget / max(mean_tokens, 1.0)) + 1)


def matrix(runs: list[list[dict]], outcome: Outcome, keep: Callable[[dict], bool] = lambda r: True) -> np.ndarray:
    """seeds x problems: the outcome of each seed's model on each problem kept (the same problems in each run)."""
    return np.array([[outcome(r) for r in results if keep(r)] for results in runs], dtype=float)


def bootstrap(values: np.ndarray, resamples: int, seed: int = 0) -> tuple[float, float, float]:
    """The mean of a seeds x problems matrix and its 95% percentile interval, resampling seeds and problems (with
    replacement, independently); nan for an empty matrix."""
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    seeds, problems = values.shape
    rows = rng.integers(0, seeds, size=(resamples, seeds))
    cols = rng.integers(0, problems, size=(resamples, problems))
    # mean over a resample of rows and columns = mean over its rows of each row's resampled columns
    means = np.array([values[r][:, c].mean() for r, c in zip(rows, cols, strict=True)])
    low, high = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def difference(first: np.ndarray, second: np.ndarray, resamples: int, seed: int = 0) -> tuple[float, float, float]:
    """The mean of `first` minus the mean of `second` (seeds x problems, the same problems in the same order) and its
    95% percentile interval: problems resampled together (paired), each side's seeds on their own; nan if either is
    empty."""
    if first.size == 0 or second.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    problems = first.shape[1]
    cols = rng.integers(0, problems, size=(resamples, problems))
    ours = rng.integers(0, first.shape[0], size=(resamples, first.shape[0]))
    theirs = rng.integers(0, second.shape[0], size=(resamples, second.shape[0]))
    diffs = [first[a][:, c].mean() - second[b][:, c].mean() for a, b, c in zip(ours, theirs, cols, strict=True)]
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(first.mean() - second.mean()), float(low), float(high)


COMPARED = ("pass1", "best_of_n")  # the figures each condition reports against the baseline, paired by problem


def baseline_differences(
    runs: list[list[dict]], baseline: list[list[dict]], budget: float, resamples: int
) -> dict[str, tuple[float, float, float]]:
    """For each compared figure, a condition's mean minus the baseline's and the 95% interval of that difference."""
    out = {}
    for index, figure in enumerate(f for f in figures(budget) if f.name in COMPARED):
        keep = partial(kept_by, figure)
        ours, theirs = matrix(runs, figure.outcome, keep), matrix(baseline, figure.outcome, keep)
        out[figure.name] = difference(ours, theirs, resamples, seed=index)
    return out


def kept_by(figure: Figure, result: dict) -> bool:
    return figure.only is None or bool(figure.only(result))


def run_figures(results: list[dict], budget: float) -> dict[str, float]:
    """One model's figures (nan where a figure has no problems)."""
    out = {}
    for figure in figures(budget):
        kept = [figure.outcome(r) for r in results if kept_by(figure, r)]
        out[figure.name] = float(np.mean(kept)) if kept else float("nan")
    return out


def condition_intervals(runs: list[list[dict]], budget: float, resamples: int) -> dict[str, tuple[float, float, float]]:
    """Each figure's mean and 95% interval over a condition's runs (one list of results per seed)."""
    out = {}
    for index, figure in enumerate(figures(budget)):

        keep = partial(kept_by, figure)
        out[figure.name] = bootstrap(matrix(runs, figure.outcome, keep), resamples, seed=index)
    return out
