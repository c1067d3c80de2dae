"""Priming datasets from a run's search trees: SFT records that show the habits a variant names and no others."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from metacot.backends.models import load_tokenizer
from metacot.behaviors.definitions import BEHAVIORS
from metacot.behaviors.prime.attempts import PrimingTrace, choose_attempts, closest, render, wrong_ends
from metacot.behaviors.prime.variants import DOTS, EMPTY, SOLUTION, VARIANTS, Variant, variant, writable
from metacot.linearize.layout import check_layout, text_keys
from metacot.outputs.export import run_linearize_config
from metacot.outputs.files import AtomicFile, output_target
from metacot.outputs.rundir import RunDir
from metacot.outputs.shards import TreeLookup
from metacot.problems.base import Domain
from metacot.progress import progress_bar
from metacot.seeding import mix, problem_seed
from metacot.tree import SearchTree

MAX_WRONG = 3  # wrong finished paths tried before the answer, at most


@dataclass
class PrimeOptions:
    """What `metacot prime` writes: one variant's records, how many, from which Countdown sizes, with which seed,
    in which record layout (linearize.layout).

    sizes: number of numbers -> weight (Countdown only); records are drawn in these proportions, and only from
    these sizes. tokenizer: a local tokenizer directory that dots_cot measures lengths in (else characters)."""

    variant: str
    records: int | None = None  # None: one record per usable tree
    seed: int = 0
    sizes: dict[int, float] | None = None
    max_wrong: int = MAX_WRONG
    tokenizer: str | None = None
    record_layout: str | None = None  # None: the run's linearize.record_layout

    def __post_init__(self) -> None:
        variant(self.variant)
        if self.record_layout is not None:
            check_layout(self.record_layout, "--record-layout")
        if self.records is not None and self.records < 1:
            raise ValueError(f"--records: expected at least 1, got {self.records}")
        if self.max_wrong < 1:
            raise ValueError(f"--max-wrong: expected at least 1, got {self.max_wrong}")
        if self.sizes is not None and (not self.sizes or any(w <= 0 for w in self.sizes.values())):
            raise ValueError(f"--sizes: expected sizes with positive weights, got {self.sizes}")


def parse_sizes(text: str) -> dict[int, float]:
    """'3,4' (equal weights) or '3:1,4:3' -> {3: 1.0, 4: 3.0}."""
    sizes = {}
    for item in text.split(","):
        size, _, weight = item.strip().partition(":")
        try:
            sizes[int(size)] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"--sizes: expected N or N:WEIGHT items separated by commas, got {item!r}") from None
    return sizes


def draw_seed(seed: int, problem_id: str, draw: int) -> int:
    """The seed of one record: the same for every variant, so that variants of one tree try the same paths."""
    return mix(problem_seed(seed, problem_id), draw)


def think_trace(tree: SearchTree, domain: Domain, shown: Variant, attempts: list[int], seed: int) -> PrimingTrace:
    """The think block of a record of the variant (as its domain writes it) going through `attempts`; empty for a
    variant whose think block holds no reasoning."""
    if shown.think in (EMPTY, DOTS):
        return PrimingTrace()
    problem = domain.problem_from_dict(tree.problem)
    trace = render(tree, domain, problem, shown.shows, attempts, seed)
    if shown.wrong:
        trace.answered, final = closest(trace, domain, problem)
        trace.say(closing(domain, problem, final))
    return trace


def closing(domain: Domain, problem: Any, final: Any) -> str:
    """Why a wrong-answer trace answers with the finished step it does (the closest to the target it reached)."""
    if domain.numbers_to_target:
        return f"None of these reached {problem.target}; the closest was {final[0]}, so I will answer with that."
    return "None of my answers checked out; I will give the last one."


class Primer:
    """Builds one variant's records from a run's trees."""

    def __init__(self, run_dir: str | Path, options: PrimeOptions):
        self.directory = RunDir(run_dir)
        self.domain = self.directory.domain()
        self.options = options
        self.variant = variant(options.variant).for_domain(self.domain)
        # every habit the domain writes, on the variant's kind of answer: a tree is used only when this trace of it
        # shows them all, so that every variant writes the same problems (and paths) and dots_cot measures it
        self.reference = Variant("reference", writable(self.domain), wrong=self.variant.wrong)
        if options.sizes is not None and not self.domain.numbers_to_target:
            raise ValueError("--sizes: Countdown-only (a size is a number of numbers)")
        self.count_tokens = token_counter(options.tokenizer)
        self.layout = options.record_layout or run_linearize_config(self.directory).record_layout
        self.skipped = 0

    def records(self) -> Iterator[dict]:
        """Records in the proportions of the sizes asked for, each tree used once before any is used again."""
        trees = TreeLookup(self.directory)
        pools = self._pools(trees)
        total = sum(weight for weight, _ in pools)
        for weight, pool in pools:
            quota = None if self.options.records is None else round(self.options.records * weight / total)
            yield from self._from_pool(trees, pool, quota)

    def _pools(self, trees: TreeLookup) -> list[tuple[float, list[int]]]:
        """(weight, where its trees lie, in a seeded order) per size asked for; one pool of every finished tree
        without sizes. The trees are read when a record is made: only where they lie is held (TreeLookup)."""
        places = [(found, 0) for found in trees.finished()]
        if self.options.sizes is not None:
            places = [(found, len(trees.tree(found).problem["numbers"])) for found, _ in places]
        random.Random(self.options.seed).shuffle(places)
        if self.options.sizes is None:
            return [(1.0, [found for found, _ in places])]
        held = sorted({n for _, n in places})
        missing = sorted(set(self.options.sizes) - set(held))
        if missing:
            raise ValueError(f"--sizes: the run has no finished tree of {missing} numbers (its trees have {held})")
        sizes = sorted(self.options.sizes.items())
        return [(weight, [found for found, n in places if n == size]) for size, weight in sizes]

    def _from_pool(self, trees: TreeLookup, pool: list[int], quota: int | None) -> Iterator[dict]:
        made = 0
        for draw in range(1 if quota is None else quota):  # another pass draws other paths from the same trees
            before = made
            for found in pool:
                if quota is not None and made >= quota:
                    return
                tree = trees.tree(found)
                record = self.record(tree, draw)
                if record is None:
                    self.skipped += draw == 0
                    continue
                made += 1
                yield record
            if made == before:
                return

    def record(self, tree: SearchTree, draw: int = 0) -> dict | None:
        """The tree's record for this draw, or None when the tree cannot show the variant's habits (no solution,
        too few dead ends or wrong finished paths, no subgoal or backward chain on its paths)."""
        problem = self.domain.problem_from_dict(tree.problem)
        seed = draw_seed(self.options.seed, tree.problem_id, draw)
        wrong = self.variant.wrong
        ends = wrong_ends(tree, self.domain, problem)
        attempts = choose_attempts(tree, random.Random(seed), self.options.max_wrong, wrong, ends)
        if attempts is None:
            return None
        reference = think_trace(tree, self.domain, self.reference, attempts, seed)
        if any(trace_lacks(self.reference, reference)):
            return None
        if self.variant.think == SOLUTION:
            attempts = attempts[-1:]
        trace = think_trace(tree, self.domain, self.variant, attempts, seed)
        steps = trace.answered if wrong and trace.answered is not None else tree.steps_to(attempts[-1])
        answer = self.domain.final_answer(problem, steps)
        correct = self.domain.check_answer(problem, answer)
        if correct == wrong or any(trace_lacks(self.variant, trace)):  # cannot happen: the reference shows them
            raise AssertionError(f"{tree.problem_id}: a {self.variant.name} record that breaks its own rules")
        body = self.domain.step_delimiter.join(trace.lines)
        extra: dict = {}
        if self.variant.think == EMPTY:
            completion = f"<think> </think>\n<answer> {answer} </answer>"
        else:
            if self.variant.think == DOTS:
                body, extra["think_length"] = self.dots(self.domain.step_delimiter.join(reference.lines))
            completion = f"<think>\n{body}\n</think>\n<answer> {answer} </answer>"
        prompt = self.domain.prompt(problem, think_tags=True)
        return {
            "problem_id": tree.problem_id,
            "variant": self.variant.name,
            "seed": seed,
            "attempts": attempts,
            "num_numbers": len(problem.numbers) if self.domain.numbers_to_target else None,
            "correct": correct,
            "answer": answer,
            "num_backtracks": trace.backtracks,
            "behaviors": {name: trace.counts[name] for name in BEHAVIORS},
            **extra,
            **text_keys(prompt, completion, self.layout),
        }

    def dots(self, body: str) -> tuple[str, dict]:
        """' .' repeated to the length of `body`, in tokens when a tokenizer is given, else in characters."""
        if self.count_tokens is None:
            return (" ." * (len(body) // 2 + 1))[: len(body)], {"unit": "chars", "length": len(body)}
        return dots_in_tokens(self.count_tokens(body), self.count_tokens), {
            "unit": "tokens",
            "length": self.count_tokens(body),
        }


def trace_lacks(shown: Variant, trace: PrimingTrace) -> Iterator[str]:
    """The habits the variant names that the trace does not show (the variant of a think block with no reasoning
    names none)."""
    return (name for name in shown.shows if not trace.counts[name])


def dots_in_tokens(length: int, count: Callable[[str], int]) -> str:
    """' .' repeated until the text is `length` tokens long, then single '.' added where one ' .' overshoots."""
    low, high = 0, length
    while low < high:  # the most repeats that stay within the length
        middle = (low + high + 1) // 2
        low, high = (middle, high) if count(" ." * middle) <= length else (low, middle - 1)
    text = " ." * low
    while count(text) < length:
        text += "."
    return text


def token_counter(path: str | None) -> Callable[[str], int] | None:
    """How many tokens a local tokenizer makes of a text (no special tokens); None without a tokenizer."""
    if path is None:
        return None
    tokenizer = load_tokenizer(path, "--tokenizer")
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def variants_for(run_dir: str | Path, name: str) -> list[str]:
    """The variants `--variant NAME` asks for: one, or with "all" every variant the run's domain can write."""
    if name != "all":
        return [name]
    habits = writable(RunDir(run_dir).domain())
    return [v.name for v in VARIANTS.values() if v.wrong or v.shows <= habits]


def write_prime(
    run_dir: str | Path, options: PrimeOptions, out: str | Path | None = None, progress: bool = False
) -> tuple[Path, int, int]:
    """Write one variant's records (default RUN/prime/<variant>.jsonl): the path, records written, trees skipped.
    `progress`: a bar of the records on stderr."""
    path = output_target(Path(out) if out is not None else Path(run_dir) / "prime" / f"{options.variant}.jsonl")
    primer = Primer(run_dir, options)
    count = 0
    records = progress_bar(primer.records(), show=progress, total=options.records, unit="record", desc=options.variant)
    with AtomicFile(path) as f, records:
        for record in records:
            f.write(orjson.dumps(record) + b"\n")
            count += 1
    return path, count, primer.skipped
