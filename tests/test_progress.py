"""Progress on stderr: every long command draws its bar there (never on stdout) unless --no-progress; synth's bar
says what the backends are doing while a call is under way; a Ray start-up is noted."""

from __future__ import annotations

import re
import time

import pytest

import metacot.progress
from metacot.assemble import build_runner
from metacot.behaviors.handbook.build import build_handbook
from metacot.cli import main
from metacot.config import SynthConfig
from metacot.problems import make_domain, make_problems
from metacot.search.budget import Budget
from metacot.synth import synth
from metacot.tree import Compute


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("progress") / "run")
    assert main(["synth", "--out", out, "--no-progress", "--num-problems", "12"]) == 0
    return out


COMMANDS = {  # command -> (its arguments after RUN_DIR, a text its bar shows)
    "audit": ([], "auditing metacot"),
    "linearize": ([], "linearizing"),
    "view": ([], "tree/s"),
    "prime": (["--variant", "only_backtracking"], "only_backtracking"),
    "export": (["--pairs", "--overwrite"], "reading trees"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_long_command_draws_its_bar_on_stderr_and_no_progress_removes_it(run, command, capsys, tmp_path):
    more, shown = COMMANDS[command]
    args = [command, run, *more] + (["--out", str(tmp_path / "view.html")] if command == "view" else [])
    main(args)
    drawn = capsys.readouterr()
    assert shown in drawn.err and "/s]" in drawn.err and "/s]" not in drawn.out
    main([*args, "--no-progress"])
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == drawn.out


def test_audit_bars_count_the_records_of_each_format(run, capsys):
    assert main(["audit", run, "--format", "metacot", "--no-reader"]) == 0
    err = capsys.readouterr().err
    assert "reading trees" not in err  # each record's tree is read with it
    assert re.search(r"auditing metacot: 100%\|[^\r\n]*\| (\d+)/\1 ", err)


class FirstCallWaits:
    """A policy whose first call takes `seconds` (a model's long batch), then answers after `then` seconds."""

    def __init__(self, inner, seconds: float, then: float = 0.0):
        self.inner, self.seconds, self.then, self.waited = inner, seconds, then, False

    def propose(self, requests):
        time.sleep(self.then if self.waited else self.seconds)
        self.waited = True
        return self.inner.propose(requests)


def test_the_synth_bar_shows_the_requests_in_flight_while_a_call_is_under_way(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(metacot.progress, "TICK_SECONDS", 0.05)
    config = SynthConfig(out=str(tmp_path / "run"), concurrency=4)
    config.problems.num_problems = 4
    runner = build_runner(config, make_domain(config.problems))
    runner.policy = FirstCallWaits(runner.policy, 0.5)
    synth(config, progress=True, runner=runner)
    frames = re.split(r"[\r\n]", capsys.readouterr().err)
    waiting = [f for f in frames if " 0/4 " in f and re.search(r"\b4 requests in flight", f)]
    assert waiting, frames  # before any problem finished, the first call's 4 requests
    last = frames[-2] if frames[-1] == "" else frames[-1]
    calls, tokens = re.search(r"0 requests in flight, ([\d.]+) calls/s, (\d+) tokens/s", last).groups()
    assert " 4/4 " in last and float(calls) > 0 and int(tokens) > 0


def test_the_runner_counts_the_tokens_its_trees_generated(tmp_path):
    config = SynthConfig(out=str(tmp_path / "run"))
    config.problems.num_problems = 5
    runner = build_runner(config, make_domain(config.problems))
    trees = list(runner.run(make_problems(config.problems, config.seed)))
    generated = sum(t.compute.generated_tokens + t.compute.rollout_tokens for t in trees)
    requests, calls, tokens, _ = runner.activity()
    assert generated > 0 and tokens == runner.stats.generated_tokens == generated
    assert requests == 0 and calls == runner.stats.policy_calls + runner.stats.prm_calls > 0


class Replies:
    """A text generator that answers every prompt with the same text."""

    def generate(self, prompts, sampling):
        return ["behavior_check: check it."] * len(prompts)


def test_handbook_build_counts_its_replies_on_stderr(run, capsys):
    from metacot.backends.generate import Sampling

    result = build_handbook(run, Replies(), "m", Sampling(), progress=True)
    err = capsys.readouterr().err
    assert result.problems and f"{2 * result.problems}/{2 * result.problems}" in err and "distilling" in err
    build_handbook(run, Replies(), "m", Sampling())
    assert capsys.readouterr().err == ""


def test_a_local_ray_start_is_noted_on_stderr(capsys, monkeypatch):
    pytest.importorskip("ray")
    import ray

    from metacot.distributed import replicas

    if ray.is_initialized():
        pytest.skip("a Ray cluster is already up in this process")

    def refuse(address):
        raise RuntimeError("not started in a test")

    monkeypatch.setattr(replicas, "connect", refuse)
    config = SynthConfig()
    config.ray.address = "local"
    domain = make_domain(config.problems)
    problems = make_problems(config.problems, config.seed)
    with pytest.raises(RuntimeError, match="not started"):
        next(replicas.RayRunner(config, domain, progress=True).run(problems))
    assert capsys.readouterr().err == "starting a local Ray cluster…\n"
    with pytest.raises(RuntimeError, match="not started"):
        next(replicas.RayRunner(config, domain).run(problems))
    assert capsys.readouterr().err == ""


def test_the_bar_shows_how_much_of_their_budget_the_searches_in_flight_spent(tmp_path, capsys, monkeypatch):
    """A* with the rollout PRM and a budget of expansions and rollouts: the share climbs as the trees grow, and the
    runner's reading is the largest share of any limit, averaged over the searches in flight."""
    monkeypatch.setattr(metacot.progress, "TICK_SECONDS", 0.05)
    config = SynthConfig(out=str(tmp_path / "run"), concurrency=4)
    config.problems.num_problems = 4
    config.search.strategy, config.prm.backend = "astar", "rollout"
    config.search.astar.budget = Budget(policy_calls=40, rollouts=200)
    runner = build_runner(config, make_domain(config.problems))
    runner.policy = FirstCallWaits(runner.policy, 0.3, then=0.02)  # every round spans ticks of the bar, loaded or not
    synth(config, progress=True, runner=runner)
    shares = [int(s) for s in re.findall(r"(\d+)% of the budget spent", capsys.readouterr().err)]
    assert shares and max(shares) > 0 and all(0 <= s <= 100 for s in shares)
    budget = config.search.astar.budget
    assert budget.share(Compute(policy_calls=10, rollouts=150)) == 0.75 and Budget().share(Compute()) is None
