"""metacot's engine next to llm-reasoners' MCTS on the same Countdown-4 problems, in one process: states per second.

    pip install --no-deps --target /tmp/peer llm-reasoners==1.0.2    # its own dependencies are not needed here
    PYTHONPATH=/tmp/peer python scripts/peer_engine.py [--problems 200] [--iterations 50] [--repeat 3]

The peer (llm-reasoners 1.0.2's MCTS, uniform prior: fast_reward 0) runs a world model over the same symbolic
Countdown moves: up to 8 legal steps per state sampled with a seeded generator, each step applied by metacot's
Countdown parser and rewarded by the exact oracle (1 if the target is still reachable). Its figure is materialized
states (nodes whose state was computed and rewarded) per second of search alone. metacot's are `metacot bench
engine`'s: created-and-scored nodes per second of MCTS including linearization in every format and writing the
run, and per second of its runner alone (drawing the problems and searching; the peer's figure leaves out even
the drawing). Each side reports the fastest of --repeat runs; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time

from metacot.bench.engine import bench_engine
from metacot.config import SynthConfig
from metacot.problems import make_problems
from metacot.problems.countdown import apply_step, format_move, legal_moves, reachable

WIDTH = 8  # steps proposed per state, as metacot's MCTS expand_width


def peer_states_per_second(problems: list, iterations: int) -> tuple[int, float]:
    """(materialized states, seconds) of llm-reasoners' MCTS over the problems."""
    from reasoners import SearchConfig, WorldModel
    from reasoners.algorithm import MCTS

    class Countdown(WorldModel):
        def init_state(self):
            return tuple(self.example.numbers)

        def step(self, state, action):
            after = apply_step(state, action)
            return after, {"after": after}  # handed to reward() by the peer's MCTS

        def is_terminal(self, state):
            return len(state) == 1

    class Steps(SearchConfig):
        def get_actions(self, state):
            moves = list(dict.fromkeys(legal_moves(state, "sos")))
            rng = random.Random(f"{self.example.id}:{state}")
            return [format_move(m) for m in rng.sample(moves, min(WIDTH, len(moves)))]

        def reward(self, state, action, after=None, **details):
            return (1.0 if reachable(after, self.example.target) else 0.0), {}

    world, steps = Countdown(), Steps()
    states, started = 0, time.perf_counter()
    for problem in problems:
        world.update_example(problem)
        steps.update_example(problem)
        result = MCTS(n_iters=iterations, depth_limit=len(problem.numbers) - 1)(world, steps)
        states += _materialized(result.tree_state) - 1  # the root's state is given, not computed
    return states, time.perf_counter() - started


def _materialized(node) -> int:
    if node.state is None:
        return 0
    return 1 + sum(_materialized(child) for child in node.children or ())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=50, help="the peer's MCTS iterations per problem")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cpus: {os.cpu_count()}")
    config = SynthConfig(seed=0)
    config.problems.num_problems = args.problems
    problems = list(make_problems(config.problems, config.seed))
    peer = min((peer_states_per_second(problems, args.iterations) for _ in range(args.repeat)), key=lambda r: r[1])
    ours = bench_engine(["mcts"], args.problems, concurrency=64, seed=0, repeat=args.repeat)["mcts"]
    peer_rate = peer[0] / peer[1]
    print(f"llm-reasoners 1.0.2 MCTS: {peer[0]} states in {peer[1]:.2f} s = {peer_rate:,.0f} states/s")
    print(
        f"metacot mcts:             {ours['nodes']} nodes in {ours['seconds']:.2f} s = "
        f"{ours['nodes_per_second']:,.0f} nodes/s (linearization and writing included), "
        f"{ours['search_nodes_per_second']:,.0f} nodes/s searching alone"
    )
    print(
        f"ratio: {ours['nodes_per_second'] / peer_rate:.1f}x, searching alone "
        f"{ours['search_nodes_per_second'] / peer_rate:.1f}x; threads: {threading.active_count()} (one process)"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
