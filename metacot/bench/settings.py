"""Strategy benchmark settings: the grid, the game, and strategies as named on the command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metacot.config import ConfigError, from_dict
from metacot.flags import flag
from metacot.search import SEARCHES, UNITS

DEFAULT_STRATEGIES = ("mcts", "astar", "beam", "best_of_n", "bfs", "dfs")


class BenchError(ValueError):
    """A benchmark directory or setting that cannot be used; the message says which and why."""


@dataclass
class BenchSettings:
    out: str = flag("results directory", "runs/bench-strategies", metavar="DIR")
    num_problems: int = flag("generated Countdown problems", 200)
    num_numbers: int = flag("numbers per problem", 4)
    low: int = flag("smallest number", 1)
    high: int = flag("largest number", 99)
    target_low: int = 10
    target_high: int = 100
    target: int | None = flag("fix the target (24, with numbers 1..13: the Game of 24); default 10..100", None)
    strategies: list[str] = flag(
        "comma-separated strategies, each a registered search with optional :key=value overrides",
        default_factory=lambda: list(DEFAULT_STRATEGIES),
    )
    budgets: list[int] = flag("comma-separated budgets", default_factory=lambda: [20, 50, 100, 200, 300, 500])
    unit: str = flag("what the budgets count", "nodes", choices=lambda: UNITS)
    noise: list[float] = flag(
        "oracle PRM flip probabilities, comma-separated", default_factory=lambda: [0.0, 0.1, 0.2, 0.3]
    )
    mistake_rate: float = flag("the symbolic policy's share of wrong steps", 0.1)
    expand_width: int | None = flag(  # None: each strategy's own
        "children per expansion for every strategy with that setting (default: each strategy's own)", None
    )
    fit: bool = flag("keep best-of-N's N and beam's width at their defaults, not budget-sized", True, name="--no-fit")
    seed: int = flag("run seed", 0)
    behaviors: str | None = flag(  # BCI: every strategy's policy orders its moves by the retrieved behaviours
        "condition every strategy on a behaviour handbook (JSONL, or 'builtin'), retrieved by topic",
        None,
        metavar="FILE",
    )
    concurrency: int = flag("searches in flight at once", 64)

    # What the rows depend on besides their key: a directory resumed with other values is refused.
    IDENTITY = (
        "num_numbers",
        "low",
        "high",
        "target_low",
        "target_high",
        "target",
        "unit",
        "mistake_rate",
        "expand_width",
        "fit",
    )

    def identity(self) -> dict:
        identity = {"seed": self.seed, **{key: getattr(self, key) for key in self.IDENTITY}}
        if self.behaviors is not None:  # only a conditioned benchmark counts it: older directories resume as they were
            identity["behaviors"] = self.behaviors
        return identity

    @property
    def depth(self) -> int:
        """Steps in a Countdown solution: each combines two numbers into one."""
        return self.num_numbers - 1

    def game_name(self) -> str:
        if self.target is not None:
            return f"Countdown-{self.num_numbers}, target {self.target}"
        return f"Countdown-{self.num_numbers}"

    def describe(self) -> str:
        """One paragraph on what was run, for the table's heading."""
        width = (
            "strategies' own expansion widths"
            if self.expand_width is None
            else f"{self.expand_width} children per expansion"
        )
        game = f"Game of {self.target}" if self.target is not None else f"targets {self.target_low}..{self.target_high}"
        return (
            f"Countdown-{self.num_numbers} (numbers {self.low}..{self.high}, {game}), "
            f"{self.num_problems} problems, seed {self.seed}; symbolic policy (mistake rate "
            f"{self.mistake_rate:g}); oracle PRM whose verdict flips with the given probability; budgets in "
            f"{self.unit} per problem; {width}{'; best-of-N and beam sized to the budget' if self.fit else ''}"
            + (f"; moves ordered by the behaviours of handbook {self.behaviors} (BCI)." if self.behaviors else ".")
        )


@dataclass
class StrategySpec:
    """A strategy as named on the command line: a registered search and optional config overrides,
    e.g. "dfs:heuristic=prm" or "best_of_n:selection=argmax:n=16"."""

    label: str
    name: str
    overrides: dict[str, Any]

    @classmethod
    def parse(cls, text: str) -> StrategySpec:
        name, *pairs = text.strip().split(":")
        if name not in SEARCHES:
            raise BenchError(f"unknown strategy {name!r} in {text!r}: expected one of {', '.join(SEARCHES)}")
        overrides = {}
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if not eq or not key:
                raise BenchError(f"strategy {text!r}: expected key=value after ':', got {pair!r}")
            overrides[key.strip()] = _literal(value.strip())
        try:
            from_dict(SEARCHES[name][0], overrides, name)  # checks the keys, value types and values
        except ConfigError as error:
            raise BenchError(f"strategy {text!r}: {error}") from None
        return cls(text.strip(), name, overrides)


def _literal(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
