"""Named config presets: plain settings applied before the config file, the flags and --set, which override them."""

from __future__ import annotations

from typing import Any

# name -> settings, laid out as a TOML config file is. A preset's name is recorded in the manifest (config.preset).
PRESETS: dict[str, dict[str, Any]] = {
    # The Meta-CoT paper's synthesis (arXiv 2501.04682, section 7 and appendices D-E): a state's value is the share
    # of Monte Carlo completions from it that verify (the paper used 128: --set prm.rollout.rollouts=128; 16 keeps a
    # CPU run short), search is best-first by that value (A* with g = 0) until the first verified solution;
    # `--search mcts` runs the paper's MCTS instead: UCT selection, children's Q starting at their value,
    # incremental-mean backup. Traces: the paper's layout (the "paper" format). A* keeps metacot's re-expansion and
    # smoothed Monte Carlo estimate: the paper's literal one expansion per node, ordered by s/n alone
    # (widening = false, heuristic = "linear", priors 0) solves 65 of the default 100 problems instead of 99.
    # Twice the default rollouts a step, and twice the default limit on completions per problem.
    "metacot-paper": {
        "prm": {"backend": "rollout", "rollout": {"rollouts": 16, "mode": "soft", "reuse": True}},
        "search": {
            "strategy": "astar",
            "astar": {"step_cost": 0.0, "stop_at_first_solution": True, "budget": {"rollouts": 4800}},
            "mcts": {
                "selection": "uct", "q_init": "value", "verified_reward": True, "stop_at_first_solution": True,
                "budget": {"rollouts": 4800},
            },
        },
        "linearize": {"formats": ["paper"]},
    },
}


def preset(name: str, where: str) -> dict[str, Any]:
    """The preset's settings; a ValueError naming `where` (the flag or file) for an unknown name."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"{where}: unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`base` with `over`'s settings on top, table by table."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
