"""Synthesis: build problems and backends from a config, run the searches, write trees, traces and stats."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from metacot.config import ConfigError, SynthConfig
from metacot.linearize import LinearizeConfig, resolve_formats
from metacot.outputs.rundir import RunDir
from metacot.outputs.traces import TraceWriter
from metacot.policy import make_policy
from metacot.prm import make_prm
from metacot.problems import make_domain, make_problems
from metacot.problems.base import Domain
from metacot.search import SEARCHES, Runner, RunnerStats, make_search


@dataclass
class SynthResult:
    """What one call to synth did: the run's stats plus how this process used the backends."""

    stats: dict
    searched: int  # problems searched by this call (a resumed run skips finished ones)
    nodes: int  # nodes created by this call
    seconds: float  # searching, linearizing and writing, after the problems were built
    runner: RunnerStats = field(default_factory=RunnerStats)


def build_runner(config: SynthConfig, domain: Domain) -> Runner:
    strategy = config.search.strategy
    if strategy not in SEARCHES:
        raise ConfigError(f"search.strategy: unknown strategy {strategy!r}; known: {', '.join(SEARCHES)}")
    search = make_search(strategy, getattr(config.search, strategy))
    policy = make_policy(config.policy, domain)
    prm = make_prm(config.prm, domain, policy)
    return Runner(domain, policy, prm, search, strategy, config.seed, config.concurrency)


def synth(config: SynthConfig, progress: bool = True) -> SynthResult:
    """Search every problem not yet finished in config.out, writing each tree and its traces as it finishes."""
    domain = make_domain(config.problems)
    resolve_formats(config.linearize.formats, domain)
    problems = make_problems(config.problems, config.seed)
    runner = build_runner(config, domain)
    started = time.perf_counter()
    nodes = 0
    with RunDir(config.out) as run_dir:
        done = run_dir.open(config.to_dict(), config.hash(), config.seed, config.tree_settings())
        todo = [p for p in problems if p.id not in done]
        bar = tqdm(total=len(problems), initial=len(problems) - len(todo), disable=not progress, unit="problem")
        with bar, TraceWriter(run_dir, domain, config.linearize, started) as traces:
            for tree in run_dir.iter_trees():  # a resumed run's finished trees
                traces.add(tree)
            for tree in runner.run(todo):
                run_dir.append(tree)
                traces.add(tree)
                nodes += len(tree.nodes)
                bar.update()
    elapsed = time.perf_counter() - started
    return SynthResult(traces.stats(), len(todo), nodes, elapsed, runner.stats)


def relinearize(run_dir: str | Path, config: LinearizeConfig) -> dict:
    """Write a finished run's traces again, in other formats or with other options, without searching."""
    directory = RunDir(run_dir)
    domain = directory.domain()
    resolve_formats(config.formats, domain)
    with TraceWriter(directory, domain, config) as traces:
        for tree in directory.iter_trees():
            traces.add(tree)
    return traces.stats()
