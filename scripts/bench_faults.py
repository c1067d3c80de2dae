"""How much transient server faults slow a run: the same searches against a clean and a faulty local server.

    PYTHONPATH=$PWD python scripts/bench_faults.py --num-problems 30 --fault-rate 0.1

The policy is the OpenAI-compatible one, against a fake completions server in its own process
(tests/fault_server.py) that answers each request with legal Countdown steps drawn from the request's prompt and
seed, so a retried request gets the same answer and the trees cannot depend on which requests failed. The faulty
server fails a share of requests (--fault-rate) at random, each of: hanging past the client's timeout, HTTP 500,
HTTP 429, a dropped connection. Prints both wall times, their ratio, and whether the trees are identical (wall
times aside).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from metacot.assemble import build_runner  # noqa: E402
from metacot.config import SynthConfig, set_key  # noqa: E402
from metacot.problems import make_domain, make_problems  # noqa: E402


def serve(fault_rate: float, timeout: float, port: multiprocessing.Queue) -> None:
    """A fake server in this process until it is killed; its port goes to `port`."""
    from fault_server import FaultServer, countdown_steps

    faults = [("hang", timeout + 1), ("status", 500, {}), ("status", 429, {}), ("drop",)]

    def fault(count: int, body: dict) -> tuple | None:
        draw = random.Random(count)
        return draw.choice(faults) if draw.random() < fault_rate else None

    server = FaultServer(fault, answer=countdown_steps)
    port.put(server.url)
    while True:
        time.sleep(3600)


def timed_run(args: argparse.Namespace, tokenizer: str, fault_rate: float) -> tuple[float, list[bytes]]:
    """Wall seconds of the run against a server with that fault rate, and its trees (less wall times)."""
    context = multiprocessing.get_context("spawn")
    urls: multiprocessing.Queue = context.Queue()
    server = context.Process(target=serve, args=(fault_rate, args.timeout, urls), daemon=True)
    server.start()
    try:
        config = SynthConfig()
        settings = {
            "concurrency": args.concurrency,
            "problems.num_problems": args.num_problems,
            "policy.backend": "openai",
            "policy.openai.base_url": urls.get(timeout=60),
            "policy.openai.model": "tiny",
            "policy.openai.tokenizer": tokenizer,
            "policy.openai.timeout": args.timeout,
            "policy.openai.max_retries": 8,
            "policy.openai.backoff": args.backoff,
            "search.strategy": args.search,
        }
        for key, value in settings.items():
            set_key(config, key, value, "bench_faults")
        domain = make_domain(config.problems)
        runner = build_runner(config, domain)
        start = time.perf_counter()
        trees = [tree.to_dict() for tree in runner.run(make_problems(config.problems, config.seed))]
        seconds = time.perf_counter() - start
    finally:
        server.kill()
    for tree in trees:
        tree["compute"].pop("wall_time")
    return seconds, [json.dumps(tree, sort_keys=True).encode() for tree in trees]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Wall time of a run against a clean and a faulty server.")
    parser.add_argument("--num-problems", type=int, default=30, metavar="N")
    parser.add_argument("--fault-rate", type=float, default=0.1, metavar="P", help="share of requests that fail")
    parser.add_argument("--timeout", type=float, default=2.0, metavar="S", help="the client's seconds per request")
    parser.add_argument("--backoff", type=float, default=0.5, metavar="S", help="seconds before the first retry")
    parser.add_argument("--concurrency", type=int, default=64, metavar="N", help="searches in flight")
    parser.add_argument("--search", default="mcts", help="the search strategy")
    args = parser.parse_args(argv)
    from tiny_models import build_tokenizer

    with tempfile.TemporaryDirectory() as folder:
        build_tokenizer(folder)
        clean, clean_trees = timed_run(args, folder, 0.0)
        faulty, faulty_trees = timed_run(args, folder, args.fault_rate)
    nodes = sum(len(json.loads(tree)["nodes"]) for tree in clean_trees)
    print(f"{args.num_problems} problems, {args.search}, {nodes} nodes: clean {clean:.1f} s, "
          f"{args.fault_rate:.0%} faults {faulty:.1f} s ({faulty / clean:.1f}x); "
          f"trees identical: {clean_trees == faulty_trees}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
