"""The experiment's conditions: each a training set of the same problems, written from the same searched trees.

A condition is a registry entry: the searches whose trees it reads and how it writes one problem's completion.
A later format or priming variant plugs in as one more entry of CONDITIONS.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from metacot.learn.splits import learn_prompt
from metacot.linearize import LinearizeConfig, linearize_tree
from metacot.linearize.audit import audit_record
from metacot.problems.base import Domain
from metacot.problems.countdown import CountdownProblem
from metacot.tree import SearchTree

THINK_END = "\n</think>"  # where a completion's trace ends and its answer block starts (think_tags on)


@dataclass
class Sources:
    """What every condition is written from: the problems, each search's solved trees by problem id, the domain,
    the experiment's seed and the share of failed branches the `dropped` control removes."""

    problems: list[CountdownProblem]
    trees: dict[str, dict[str, SearchTree]]  # search -> problem id -> its solved tree
    domain: Domain
    seed: int
    drop_share: float = 0.5
    _cache: dict[tuple[str, str, str], dict] = field(default_factory=dict, repr=False)

    def record(self, fmt: str, search: str, problem_id: str, leave_out: Collection[int] = ()) -> dict:
        """The problem's record in a trace format, written from the search's tree (`leave_out`: nodes skipped)."""
        key = (fmt, search, problem_id)
        if leave_out or key not in self._cache:
            config = LinearizeConfig(formats=[fmt])
            record = linearize_tree(self.trees[search][problem_id], self.domain, config, leave_out=leave_out)[fmt]
            if leave_out:
                return record
            self._cache[key] = record
        return self._cache[key]

    def rng(self, purpose: str) -> random.Random:
        return random.Random(f"learn-{purpose}:{self.seed}")


Writer = Callable[[Sources], dict[str, str]]  # problem id -> completion, for every problem of the sources


@dataclass(frozen=True)
class Condition:
    help: str
    searches: tuple[str, ...]  # the searches whose trees it reads (synthesized once, shared by every condition)
    write: Writer


def formatted(fmt: str, search: str) -> Writer:
    """The trace format's completion of the search's tree."""

    def write(sources: Sources) -> dict[str, str]:
        return {p.id: sources.record(fmt, search, p.id)["completion"] for p in sources.problems}

    return write


def split_answer(completion: str) -> tuple[str, str]:
    """A completion's trace (from `<think>`) and its answer block (from `</think>` on)."""
    trace, end, answer = completion.rpartition(THINK_END)
    if not end:
        raise ValueError(f"a completion without {THINK_END.strip()}: {completion[:80]!r}")
    return trace, end + answer


def stream_of_search(sources: Sources) -> dict[str, str]:
    """Stream of Search's mix: each problem's sos log from its DFS or its BFS tree, chosen at random (seeded)."""
    rng = sources.rng("sos")
    return {p.id: sources.record("sos", rng.choice(("dfs", "bfs")), p.id)["completion"] for p in sources.problems}


def corrupted(base: Writer) -> Writer:
    """Each problem's answer block after another problem's trace (a seeded derangement: never its own)."""

    def write(sources: Sources) -> dict[str, str]:
        completions = base(sources)
        ids = [p.id for p in sources.problems]
        order = ids[:]
        sources.rng("corrupted").shuffle(order)
        donor = {order[i]: order[(i + 1) % len(order)] for i in range(len(order))} if len(order) > 1 else {}
        return {
            pid: split_answer(completions[donor.get(pid, pid)])[0] + split_answer(completions[pid])[1] for pid in ids
        }

    return write


def empty(base: Writer) -> Writer:
    """`<think></think>` and the problem's answer block: no trace at all."""

    def write(sources: Sources) -> dict[str, str]:
        return {pid: "<think>" + split_answer(text)[1].lstrip("\n") for pid, text in base(sources).items()}

    return write


def dropped(fmt: str, search: str) -> Writer:
    """Dualformer's control: the trace with failed branches randomly removed (dropped_nodes) and written again from
    the tree without them; the solution path stays. Where leaving the branches out would make a sentence false (a
    state said to be exhausted while a left-out step was live: the audit finds it), the problem keeps its whole
    trace: a control that says false things would test something else."""

    def write(sources: Sources) -> dict[str, str]:
        rng = sources.rng("dropped")
        out = {}
        for problem in sources.problems:
            tree = sources.trees[search][problem.id]
            leave_out = dropped_nodes(tree, rng, sources.drop_share)
            record = sources.record(fmt, search, problem.id, leave_out)
            if leave_out and audit_record(record, tree, sources.domain).failures:
                record = sources.record(fmt, search, problem.id)
            out[problem.id] = record["completion"]
        return out

    return write


def dropped_nodes(tree: SearchTree, rng: random.Random, share: float) -> set[int]:
    """A random share of the failed branches of a solved tree, each with its whole subtree: a failed branch is a
    child of a node on the solution path that is not on it, chosen with probability `share`."""
    solution = next(n.id for n in tree.nodes if n.correct)
    path = set(tree.path_to(solution))
    out: set[int] = set()
    for node in tree.nodes:  # parents first
        branch = node.id not in path and node.parent in path
        if node.parent in out or (branch and rng.random() < share):
            out.add(node.id)
    return out


CONTROL_BASE = ("metacot", "astar")  # the trace the controls take apart: A*'s, the one with most dead ends

CONDITIONS: dict[str, Condition] = {
    "cot": Condition("the solution path alone (the optimal-path baseline)", ("astar",), formatted("cot", "astar")),
    "metacot-mcts": Condition("metacot traces of MCTS", ("mcts",), formatted("metacot", "mcts")),
    "metacot-astar": Condition("metacot traces of A*", ("astar",), formatted(*CONTROL_BASE)),
    "sos": Condition("stream-of-search logs of DFS or BFS", ("dfs", "bfs"), stream_of_search),
    "paper": Condition("the Meta-CoT paper's layout of A*", ("astar",), formatted("paper", "astar")),
    "corrupted": Condition(
        "control: another problem's metacot A* trace, the problem's own answer",
        ("astar",),
        corrupted(formatted(*CONTROL_BASE)),
    ),
    "dropped": Condition(
        "control: the metacot A* trace with failed branches randomly removed (Dualformer)",
        ("astar",),
        dropped(*CONTROL_BASE),
    ),
    "empty": Condition("control: <think></think> and the answer", ("astar",), empty(formatted("cot", "astar"))),
}


BASELINE = "cot"  # what every other condition is compared with


def check_conditions(names: list[str]) -> None:
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown or not names or len(set(names)) < len(names):
        raise ValueError(f"conditions: expected distinct names from {', '.join(CONDITIONS)}, got {names}")


def searches_of(names: list[str]) -> list[str]:
    """The searches the conditions read, each once, in a fixed order."""
    return list(dict.fromkeys(s for n in names for s in CONDITIONS[n].searches))


def common_problems(
    problems: list[CountdownProblem], trees: dict[str, dict[str, SearchTree]]
) -> list[CountdownProblem]:
    """The problems every search solved: only solved trees give training records, and every condition trains on
    the same problems."""
    return [p for p in problems if all(p.id in by_id and by_id[p.id].solved for by_id in trees.values())]


def condition_records(name: str, sources: Sources) -> list[dict]:
    """The condition's training records, one per problem of the sources, in their order."""
    completions = CONDITIONS[name].write(sources)
    return [
        {"problem_id": p.id, "prompt": learn_prompt(p), "completion": completions[p.id], "condition": name}
        for p in sources.problems
    ]
