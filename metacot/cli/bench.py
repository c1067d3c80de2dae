"""The `metacot bench` commands: engine, backends, strategies, rollouts, resume, memory, replicas, learn."""

from __future__ import annotations

import argparse

import orjson

from metacot.cli.learn import add_bench_learn
from metacot.cli.synth import add_synth_flags, synth_config
from metacot.config import set_key
from metacot.flags import add_flags, dest, given_flags, split_list
from metacot.progress import add_progress_flag


def _add_bench(commands) -> None:
    p = commands.add_parser("bench", help="benchmarks", description="Benchmarks that print measured figures.")
    kinds = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    e = kinds.add_parser(
        "engine",
        help="the synthesizer's own speed with a zero-cost policy: nodes per second, batch sizes",
        description="Run MCTS and A* on Countdown-4 with the symbolic policy and the oracle PRM, "
        "including linearization and writing, and print nodes per second and mean batch sizes.",
    )
    e.add_argument("--num-problems", type=int, metavar="N", default=1000, help="Countdown-4 problems per run")
    e.add_argument("--concurrency", type=int, metavar="N", default=64, help="searches in flight")
    e.add_argument("--searches", default="mcts,astar", help="comma-separated strategies")
    e.add_argument("--seed", type=int, metavar="N", default=0, help="the run seed")
    e.add_argument("--repeat", type=int, default=3, metavar="N", help="runs per strategy; the fastest is reported")
    e.add_argument("--json", action="store_true", help="one JSON object keyed by strategy")
    e.set_defaults(run=run_bench_engine)
    _add_bench_strategies(kinds)
    r = kinds.add_parser(
        "resume",
        help="how long a resumed synth takes to start searching, by the number of finished trees",
        description="Build a run stopped after --trees of --trees + --new Countdown problems (copies of a few "
        "searched trees, with their traces), resume it with synth, and print the seconds to the first new search "
        "and for the whole resume.",
    )
    r.add_argument("--trees", type=int, default=10_000, metavar="N", help="finished trees")
    r.add_argument("--new", type=int, default=10, metavar="N", help="problems left to search")
    r.add_argument("--seed", type=int, default=0, metavar="N", help="the run seed")
    r.add_argument("--out", metavar="DIR", help="keep the run here (default: a temporary folder, removed)")
    r.add_argument("--json", action="store_true", help="the figures as one JSON object")
    r.set_defaults(run=run_bench_resume)
    _add_bench_replicas(kinds)
    m = kinds.add_parser(
        "memory",
        help="a synth's peak RSS and wall time by the number of problems, and those of its no-op resume",
        description="Run synth (generated Countdown problems, symbolic policy, oracle PRM) in a child process for "
        "each number of problems, then the same command again (nothing left to search), and print each one's peak "
        "RSS and wall time; with --readers, also those of export, audit, prime and behaviors on each run. "
        "Arguments after -- go to synth, e.g. -- --max-nodes 20.",
    )
    m.add_argument("--problems", default="1000,10000", help="comma-separated numbers of problems")
    m.add_argument("--readers", action="store_true", help="also measure the commands that read the whole run")
    m.add_argument("synth_flags", nargs=argparse.REMAINDER, help="after --: more synth flags")
    m.add_argument("--json", action="store_true", help="the figures as one JSON list")
    m.set_defaults(run=run_bench_memory)
    b = kinds.add_parser(
        "backends",
        help="how well searches feed a model backend: prompts per call, time inside backends, overhead",
        description="Run the searches a synth command would run (same flags; no files are written) and print "
        "(a) mean prompts per policy call, (b) the share of wall time inside backend calls, (c) the whole run's "
        "time over the time the same generation requests take sent straight to the backend in one batch.",
    )
    add_synth_flags(b)
    b.add_argument(
        "--large-vocab",
        type=int,
        metavar="N",
        help="the transformers policy on a tiny random model with an N-token vocabulary, built locally for the run "
        "(151000: Qwen-size), so that costs per call that grow with the vocabulary show",
    )
    b.add_argument("--json", action="store_true", help="the figures as one JSON object")
    b.set_defaults(run=run_bench_backends)
    r = kinds.add_parser(
        "rollouts",
        help="what the rollout PRM generates per tree with and without rollout reuse (same problems, seeds)",
        description="Run the searches a synth command would run (same flags, e.g. --preset metacot-paper; no files "
        "are written) twice, with prm.rollout.reuse false and true, and print per tree the completions and their "
        "tokens generated, the completions reused, nodes and the solve rate.",
    )
    add_synth_flags(r)
    r.add_argument("--json", action="store_true", help="the figures as one JSON object")
    r.set_defaults(run=run_bench_rollouts)
    add_bench_learn(kinds)


def run_bench_rollouts(args: argparse.Namespace) -> int:
    from metacot.bench.machine import load_average, machine, machine_line
    from metacot.bench.rollouts import bench_rollout_reuse, format_reuse_table

    load = load_average()
    figures = bench_rollout_reuse(synth_config(args))
    ran = machine(load)
    for setting in figures.values():
        setting["machine"] = ran
    print(orjson.dumps(figures).decode() if args.json else format_reuse_table(figures) + "\n" + machine_line(ran))
    return 0


def run_bench_backends(args: argparse.Namespace) -> int:
    from metacot.bench.backends import bench_backends, format_report
    from metacot.bench.machine import load_average, machine, machine_line

    load = load_average()
    if args.large_vocab is not None:  # as if given: the policy flags are checked against the policy that runs
        setattr(args, dest("--policy"), "transformers")
    figures = bench_backends(synth_config(args), args.large_vocab)
    figures["machine"] = ran = machine(load)
    print(orjson.dumps(figures).decode() if args.json else format_report(figures) + "\n" + machine_line(ran))
    return 0


def run_bench_resume(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from metacot.bench.machine import load_average, machine, machine_line
    from metacot.bench.resume import bench_resume, format_report

    load = load_average()
    figures = bench_resume(args.trees, args.new, args.seed, args.out)
    ran = machine(load)
    json = orjson.dumps({**asdict(figures), "machine": ran}).decode()
    print(json if args.json else format_report(figures) + "\n" + machine_line(ran))
    return 0


def run_bench_memory(args: argparse.Namespace) -> int:
    from metacot.bench.machine import load_average, machine, machine_line
    from metacot.bench.memory import bench_memory, format_table

    flags = args.synth_flags[1:] if args.synth_flags[:1] == ["--"] else args.synth_flags
    load = load_average()
    figures = bench_memory([int(n) for n in split_list(args.problems)], flags, args.readers)
    ran = machine(load)
    json = orjson.dumps({"sizes": figures, "machine": ran}).decode()
    print(json if args.json else format_table(figures) + "\n" + machine_line(ran))
    return 0


def run_bench_engine(args: argparse.Namespace) -> int:
    from metacot.bench.engine import bench_engine, format_table
    from metacot.bench.machine import load_average, machine, machine_line

    load = load_average()
    results = bench_engine(split_list(args.searches), args.num_problems, args.concurrency, args.seed, args.repeat)
    ran = machine(load)
    for figures in results.values():
        figures["machine"] = ran
    print(orjson.dumps(results).decode() if args.json else format_table(results) + "\n" + machine_line(ran))
    return 0


STRATEGIES_EPILOG = """\
examples:
  metacot bench strategies                                     # Countdown-4, the default grid
  metacot bench strategies --target 24 --low 1 --high 13 --out runs/bench-24   # Game of 24
  metacot bench strategies --strategies "astar,dfs,dfs:heuristic=prm,best_of_n:selection=argmax"
  metacot bench strategies --unit policy_calls --budgets 5,10,20,40

A strategy is a registered search, optionally with config overrides after colons (key=value).
Rerunning on the same --out resumes: rows already in results.jsonl are not searched again."""


def _add_bench_replicas(kinds) -> None:
    from metacot.bench.replicas import add_arguments

    r = kinds.add_parser(
        "replicas",
        help="synth --ray on this machine: local vs Ray replicas, and replicas that wait on a model",
        description="Throughput and the driver's CPU per tree of a local run, 1 and 2 Ray replicas (symbolic "
        "policy), then the speed-up with 1, 2, 4 replicas whose policy sleeps per call (a GPU model's wait). "
        "Needs the ray extra.",
    )
    add_arguments(r)
    r.set_defaults(run=run_bench_replicas)


def run_bench_replicas(args: argparse.Namespace) -> int:
    from metacot.bench.replicas import run

    run(args)
    return 0


def _add_bench_strategies(kinds) -> None:
    from metacot.bench.settings import BenchSettings

    s = kinds.add_parser(
        "strategies",
        help="compare search strategies at matched compute budgets and PRM noise levels: table and plots",
        description="Run every strategy on the same generated Countdown problems (same seeds) at each budget\n"
        "and each oracle-PRM noise level; write results.jsonl, table.md (solve rates with 95% Wilson\n"
        "intervals, mean compute) and PNG plots into --out.",
        epilog=STRATEGIES_EPILOG,
    )
    add_flags(s, BenchSettings)
    add_progress_flag(s)
    s.set_defaults(run=run_bench_strategies)


def run_bench_strategies(args: argparse.Namespace) -> int:
    from metacot.bench.machine import load_average, machine, machine_line
    from metacot.bench.settings import BenchSettings
    from metacot.bench.strategies import TABLE, bench_strategies
    from metacot.bench.tables import pivot

    settings = BenchSettings()
    for name, keys, value in given_flags(args, BenchSettings):
        set_key(settings, keys[0], value, name)
    load = load_average()
    result = bench_strategies(settings, progress=not args.no_progress)
    noise0 = min(settings.noise)
    print(f"solve rate (%) by budget ({settings.unit}), PRM flip probability {noise0:g}:")
    shown = [e for e in result.summary if e["strategy"] in settings.strategies]
    print("\n".join(pivot(shown, "strategy", "budget", "noise", noise0)))
    print(f"{result.out}: {len(result.rows)} rows ({result.searched} new, {result.seconds:.1f} s); table: {TABLE}")
    print(machine_line(machine(load)))
    return 0
