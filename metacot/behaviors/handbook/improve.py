"""Behaviour-guided self-improvement: a first attempt, reflection and distillation on it, a second attempt conditioned
on each problem's own behaviours, and a noise baseline (the same problems and budget at another seed, unconditioned);
per problem, the attempts and whether the second, and the baseline, fixed the first."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from metacot.assemble import build_runner
from metacot.backends.generate import Sampling, TextGenerator
from metacot.behaviors.handbook.bci import condition
from metacot.behaviors.handbook.build import build_handbook, write_log
from metacot.behaviors.handbook.entries import Entry, merge, save_handbook
from metacot.config import MAX_SEED, ConfigError, SynthConfig
from metacot.outputs.files import write_atomic
from metacot.outputs.rundir import RunDir
from metacot.problems import make_domain
from metacot.search import Runner
from metacot.synth import SynthResult, synth
from metacot.tree import SearchTree

SECOND = "improve"  # the second attempt's run directory, inside the first's
HANDBOOK = "improve-handbook.jsonl"  # beside it: a run directory must be empty when it is created
RECORDS = "attempts.jsonl"  # in the second attempt's run directory
BASELINE = "improve-baseline"  # the noise baseline's run directory, inside the first's
BASELINE_PROBLEMS = "improve-baseline-problems.jsonl"  # the first attempt's problems, which the baseline searches
OUTCOMES = ("fixed", "broken", "both solved", "neither")


@dataclass
class SecondAttemptSource:
    """What the second attempt was conditioned on, and how it came about."""

    handbook: str  # a file, or "builtin"
    retrieve: str
    reflected: bool  # False: no model reflected (a policy that cannot write text): the built-in handbook
    note: str


@dataclass
class ImproveResult:
    """Both attempts' synth results, the per-problem records (written to RECORDS) and what conditioned the second."""

    first: SynthResult
    second: SynthResult
    records: list[dict]
    conditioning: SecondAttemptSource
    path: Path
    baseline_seed: int

    def counts(self, key: str = "outcome") -> Counter:
        """The outcomes of the second attempt ("outcome") or of the noise baseline ("baseline_outcome")."""
        return Counter(r[key] for r in self.records)


def outcome(first: bool, second: bool) -> str:
    """One of OUTCOMES: whether the second attempt fixed, broke or kept the first's result."""
    if first != second:
        return "fixed" if second else "broken"
    return "both solved" if first else "neither"


def attempt(tree: SearchTree | None) -> dict:
    """One attempt at a problem: solved, why its search failed (a backend error), and what it spent."""
    if tree is None:
        return {"solved": False, "failed": "not searched", "nodes": 0, "policy_calls": 0, "generated_tokens": 0}
    compute = tree.compute
    return {
        "solved": tree.solved,
        "failed": tree.failed,
        "nodes": compute.nodes,
        "policy_calls": compute.policy_calls,
        "generated_tokens": compute.generated_tokens,
    }


def latest_trees(run_dir: Path) -> dict[str, SearchTree]:
    """Each problem's latest tree (a retried search's later tree replaces the failed one), in problem order."""
    return {tree.problem_id: tree for tree in RunDir(run_dir).iter_trees()}


def attempt_records(first_dir: Path, second_dir: Path, baseline_dir: Path) -> list[dict]:
    """Per problem of the first attempt: the attempts, the behaviours the second used, and the outcomes of the second
    attempt and of the noise baseline against the first."""
    firsts, seconds, baselines = latest_trees(first_dir), latest_trees(second_dir), latest_trees(baseline_dir)
    records = []
    for problem_id, tree in firsts.items():
        second = seconds.get(problem_id)
        a, b, c = attempt(tree), attempt(second), attempt(baselines.get(problem_id))
        behaviors = second.behaviors if second is not None else []
        records.append(
            {
                "problem_id": problem_id,
                "outcome": outcome(a["solved"], b["solved"]),
                "baseline_outcome": outcome(a["solved"], c["solved"]),
                "behaviors": behaviors,
                "first": a,
                "second": b,
                "baseline": c,
            }
        )
    return records


def other_seed(seed: int) -> int:
    return seed + 1 if seed < MAX_SEED else seed - 1


def baseline(config: SynthConfig, runner: Runner, progress: bool) -> int:
    """The noise baseline into config.out/BASELINE: the first attempt's problems (written to BASELINE_PROBLEMS, as
    another seed would draw others) and budget, unconditioned, searched at another seed; returns that seed."""
    run = Path(config.out)
    problems = run / BASELINE_PROBLEMS
    write_atomic(problems, b"".join(orjson.dumps(tree.problem) + b"\n" for tree in latest_trees(run).values()))
    seed = other_seed(config.seed)
    source = replace(config.problems, file=str(problems), dataset=None, limit=None)
    plain = replace(config.behaviors, handbook=None)
    baseline_config = replace(config, out=str(run / BASELINE), seed=seed, problems=source, behaviors=plain)
    synth(baseline_config, progress, runner=runner.reseeded(seed))
    return seed


def per_problem(entries: list[Entry]) -> list[Entry]:
    """Duplicates folded within each problem's behaviours only: each problem keeps its own instructions."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.provenance.problem_ids[0], []).append(entry)
    return [e for group in groups.values() for e in merge(group)]


def reflect(
    run: Path, generator: TextGenerator, model: str, sampling: Sampling, progress: bool = False
) -> SecondAttemptSource:
    """Reflect on the first attempt's trees and distil each problem's behaviours into RUN/HANDBOOK (two batched
    generate calls); a rerun reuses the file, so the second attempt resumes on the same behaviours."""
    path = run / HANDBOOK
    if path.exists():
        return SecondAttemptSource(str(path), "problem", True, f"reused the reflection in {path}")
    result = build_handbook(run, generator, model, sampling, progress)
    entries = per_problem(result.entries)
    save_handbook(entries, path)
    log = write_log(result, path.with_name(path.name + ".build.jsonl"))
    with_some = len({e.provenance.problem_ids[0] for e in entries})
    note = (
        f"reflected on {result.problems} trees with {model or 'the policy model'}: {len(entries)} behaviours for "
        f"{with_some} problems in {path} ({result.malformed} malformed items skipped; raw replies in {log})"
    )
    return SecondAttemptSource(str(path), "problem", True, note)


def improve(config: SynthConfig, sampling: Sampling, progress: bool = True) -> ImproveResult:
    """The first attempt into config.out (a finished run is reused: synth resumes it), then, with an LLM policy,
    reflection on it and a second attempt conditioned on each problem's own behaviours into config.out/SECOND;
    with a policy that cannot write text (the symbolic one) no model reflects, and the second attempt is
    conditioned on the domain's built-in handbook instead. One policy serves every stage."""
    if config.ray.address is not None:
        raise ConfigError("improve: runs here, not on Ray replicas (the reflection needs the policy in this process)")
    domain = make_domain(config.problems)
    runner = build_runner(config, domain)
    first = synth(config, progress, runner=runner)
    run = Path(config.out)
    if isinstance(runner.policy, TextGenerator):
        section = getattr(config.policy, config.policy.backend)
        conditioning = reflect(run, runner.policy, getattr(section, "model", ""), sampling, progress)
    else:
        conditioning = SecondAttemptSource(
            "builtin",
            config.behaviors.retrieve,
            False,
            f"no model reflected: the {config.policy.backend} policy cannot write text, so the second attempt was "
            f"conditioned on the built-in {domain.name} handbook (retrieved by {config.behaviors.retrieve})",
        )
    behaviors = replace(config.behaviors, handbook=conditioning.handbook, retrieve=conditioning.retrieve)
    second_config = replace(config, out=str(run / SECOND), behaviors=behaviors)
    second = synth(second_config, progress, runner=runner, condition=condition)
    seed = baseline(config, runner, progress)
    records = attempt_records(run, run / SECOND, run / BASELINE)
    path = run / SECOND / RECORDS
    write_atomic(path, b"".join(orjson.dumps(r) + b"\n" for r in records))
    return ImproveResult(first, second, records, conditioning, path, seed)


def summary(result: ImproveResult) -> str:
    """The outcome counts and both attempts' solve counts and mean nodes; then the noise baseline's counts and
    whether the second attempt beat it (verdict)."""
    counts, n = result.counts(), len(result.records)
    solved = [sum(r[k]["solved"] for r in result.records) for k in ("first", "second", "baseline")]
    nodes = [sum(r[k]["nodes"] for r in result.records) / max(n, 1) for k in ("first", "second")]
    outcomes = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES)
    noise = result.counts("baseline_outcome")
    ahead = sum(r["second"]["solved"] and not r["baseline"]["solved"] for r in result.records)
    behind = sum(r["baseline"]["solved"] and not r["second"]["solved"] for r in result.records)
    return (
        f"{result.path}: {n} problems: {outcomes}; solved {solved[0]} then {solved[1]}; "
        f"{nodes[0]:.1f} then {nodes[1]:.1f} nodes per problem\n"
        f"noise baseline (the same problems and budget, unconditioned, seed {result.baseline_seed}, in "
        f"{result.path.parent.parent / BASELINE}): {noise['fixed']} fixed, {noise['broken']} broken; "
        f"solved {solved[0]} then {solved[2]}\n{verdict(ahead, behind)}"
    )


def verdict(ahead: int, behind: int) -> str:
    """Whether the second attempt beat the noise baseline: it solved `ahead` problems the baseline did not, and the
    baseline `behind` that it did not. Were conditioning no better than another seed, each of these problems would
    be a coin flip, and ahead - behind (the difference of their solve counts, and of their nets against the first
    attempt) would have a standard deviation of sqrt(ahead + behind): beyond two of them, it beat the noise."""
    spread = 2 * math.sqrt(ahead + behind)
    beat = ahead - behind > spread
    return (
        f"against the noise baseline: {ahead - behind:+d} problems ({ahead} solved only by the second attempt, "
        f"{behind} only by the baseline; 2 sd of seed noise: {spread:.1f}): "
        + ("beat the noise baseline" if beat else "not beyond the noise of changing the seed")
    )
