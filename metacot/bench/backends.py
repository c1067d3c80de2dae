"""Backend benchmark: how well the runner feeds a model backend (batch sizes, time inside backend calls) and what
a synthesis run costs next to sending the same generation requests straight to the backend in one batch."""

from __future__ import annotations

import tempfile
import time

from metacot.bench.vocab import build_large_vocab_lm
from metacot.config import SynthConfig
from metacot.policy import make_policy
from metacot.policy.base import ExpandRequest, Policy, Proposal
from metacot.prm import make_prm
from metacot.problems import make_domain, make_problems
from metacot.search import Runner, make_search


class RecordingPolicy:
    """Passes calls through and keeps every expansion request, to replay them in one batch afterwards."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.requests: list[ExpandRequest] = []

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        self.requests.extend(requests)
        return self.policy.propose(requests)


def bench_backends(config: SynthConfig, large_vocab: int | None = None) -> dict:
    """Run the configured searches (no files written) and measure the backends' share of the work. With
    `large_vocab`, the policy is the transformers one on a tiny random model with that many tokens, built for the
    run in a temporary folder (a real model's vocabulary: costs per call that grow with it show)."""
    if large_vocab is None:
        return _bench(config) | {"large_vocab": None}
    with tempfile.TemporaryDirectory() as folder:
        config.policy.backend = "transformers"
        config.policy.transformers.model = str(build_large_vocab_lm(folder, large_vocab))
        return _bench(config) | {"large_vocab": large_vocab}


def _bench(config: SynthConfig) -> dict:
    domain = make_domain(config.problems)
    problems = make_problems(config.problems, config.seed)
    backend = make_policy(config.policy, domain)
    policy = RecordingPolicy(backend)
    prm = make_prm(config.prm, domain, backend)  # a rollout PRM's completions are not steps to replay
    strategy = config.search.strategy
    search = make_search(strategy, getattr(config.search, strategy))
    list(Runner(domain, policy, prm, search, strategy, config.seed, config.concurrency).run(problems[:8]))  # warm-up
    runner = Runner(domain, policy, prm, search, strategy, config.seed, config.concurrency)
    policy.requests.clear()
    _reset_prefix_cache(policy.policy)
    start = time.perf_counter()
    trees = list(runner.run(problems))
    run_seconds = time.perf_counter() - start
    _reset_prefix_cache(policy.policy)  # the replay must not be served from the run's cached prefixes
    start = time.perf_counter()
    policy.policy.propose(policy.requests)  # the same generation requests, straight to the backend, one batch
    direct_seconds = time.perf_counter() - start
    stats = runner.stats
    return {
        "policy": config.policy.backend,
        "prm": config.prm.backend,
        "search": strategy,
        "searches": len(trees),
        "concurrency": config.concurrency,
        "nodes": sum(len(t.nodes) for t in trees),
        "policy_calls": stats.policy_calls,
        "mean_prompts_per_call": stats.mean_policy_batch,
        "mean_searches_in_flight": stats.mean_in_flight,
        "mean_paths_per_prm_call": stats.mean_prm_batch,
        "run_seconds": run_seconds,
        "backend_share": (stats.policy_time + stats.prm_time) / run_seconds,
        "seconds_per_policy_call": stats.policy_time / max(stats.policy_calls, 1),
        "direct_seconds": direct_seconds,
        "run_to_direct_ratio": run_seconds / direct_seconds,
    }


def _reset_prefix_cache(policy: Policy) -> None:
    reset = getattr(policy, "reset_prefix_cache", None)
    if reset is not None:
        reset()


def format_report(figures: dict) -> str:
    return "\n".join(
        [
            f"{figures['searches']} searches ({figures['search']}, {figures['concurrency']} in flight), "
            f"policy {figures['policy']}, PRM {figures['prm']}: {figures['nodes']} nodes in "
            f"{figures['run_seconds']:.2f} s",
            f"(a) mean prompts per policy call: {figures['mean_prompts_per_call']:.1f} over {figures['policy_calls']} "
            f"calls, with {figures['mean_searches_in_flight']:.1f} searches in flight on average "
            f"(PRM: {figures['mean_paths_per_prm_call']:.1f} paths per call)",
            f"(b) share of wall time inside backend calls: {figures['backend_share']:.1%}",
            f"(c) whole run / the same generation requests in one batch: {figures['run_seconds']:.2f} s / "
            f"{figures['direct_seconds']:.2f} s = {figures['run_to_direct_ratio']:.2f}",
            f"(d) mean seconds per policy call: {figures['seconds_per_policy_call']:.4f}"
            + (f" (a {figures['large_vocab']}-token vocabulary)" if figures["large_vocab"] else ""),
        ]
    )
