"""A generated run resumes without drawing its finished problems again: saved generator states, checked."""

from __future__ import annotations

import pytest
from conftest import stops_after

from metacot.config import SynthConfig
from metacot.outputs import RunDir
from metacot.problems import draws
from metacot.problems.countdown import CountdownDrawer, generate_problems
from metacot.search import Runner
from metacot.stop import Interrupted
from metacot.synth import synth


class CountingDrawer:
    """A drawer that notes the index of every problem it draws."""

    def __init__(self, inner: CountdownDrawer):
        self.inner, self.count, self.seed, self.key = inner, inner.count, inner.seed, inner.key
        self.drawn: list[int] = []

    def problem_id(self, index):
        return self.inner.problem_id(index)

    def draw(self, rng, index):
        self.drawn.append(index)
        return self.inner.draw(rng, index)


@pytest.fixture(autouse=True)
def every_five(monkeypatch):
    monkeypatch.setattr(draws, "EVERY", 5)


def saved_states(count=40, seed=3):
    records: list[dict] = []
    assert list(draws.drawn(CountdownDrawer(count, seed), save=records.append)) == generate_problems(count, seed)
    return records


def test_the_generator_saves_its_state_every_n_problems_and_a_resume_draws_from_the_nearest():
    records = saved_states()
    assert [r["index"] for r in records] == list(range(0, 40, 5))
    whole = generate_problems(40, 3)
    done = {p.id for p in whole[:23]} | {whole[31].id}
    drawer = CountingDrawer(CountdownDrawer(40, 3))
    assert list(draws.drawn(drawer, done, records)) == [p for p in whole if p.id not in done]
    # the state saved before problem 20, checked by drawing it, then on (31 too: no state saved after it lets the
    # stream skip it)
    assert drawer.drawn == [20, *range(20, 40)]
    drawer = CountingDrawer(CountdownDrawer(40, 3))
    assert list(draws.drawn(drawer, {p.id for p in whole}, records)) == []
    assert drawer.drawn == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: {**r, "key": "countdown:4:4:1:99:10:100:None"},  # another seed's
        lambda r: {**r, "next": "0" * 16},  # it does not draw what it recorded
        lambda r: {**r, "state": [3, r["state"][1][:-1], None]},  # malformed
        lambda r: {**r, "state": [3, [*r["state"][1][:-2], 7, 3], None]},  # another state
        lambda r: {**r, "index": "20"},
        lambda r: [r],
    ],
)
def test_a_saved_state_that_is_not_the_generators_is_not_used(damage):
    records = [damage(r) if r["index"] == 20 else r for r in saved_states()]
    whole = generate_problems(40, 3)
    done = {p.id for p in whole[:23]}
    drawer = CountingDrawer(CountdownDrawer(40, 3))
    assert list(draws.drawn(drawer, done, records)) == whole[23:]
    assert min(drawer.drawn) == 15  # the state before: the damaged one was left out


def small_run(out):
    config = SynthConfig(out=str(out))
    config.problems.num_problems, config.search.mcts.budget.nodes = 12, 12
    return config


def written(out):
    """What a run wrote that does not depend on timing: its trace files and saved generator states, byte for byte,
    and its trees with their wall times left out."""
    files = {p.name: p.read_bytes() for p in [*sorted((out / "traces").glob("*.jsonl")), out / "draws.jsonl"]}
    trees = [t.to_dict() for t in RunDir(out).iter_trees()]
    return files, [{**t, "compute": {**t["compute"], "wall_time": 0}} for t in trees]


def test_a_resumed_generated_run_draws_no_finished_problem_and_writes_what_a_whole_run_writes(tmp_path, monkeypatch):
    config, whole = small_run(tmp_path / "run"), small_run(tmp_path / "whole")
    synth(whole, progress=False)
    monkeypatch.setattr(Runner, "run", stops_after(10))
    with pytest.raises(Interrupted):
        synth(config, progress=False)
    monkeypatch.undo()
    drawn: list[int] = []
    real = CountdownDrawer.draw
    monkeypatch.setattr(CountdownDrawer, "draw", lambda self, rng, i: drawn.append(i) or real(self, rng, i))
    assert synth(config, progress=False).searched == 2
    assert drawn == [10, 10, 11]  # the state saved before problem 10, checked by drawing it, then problems 10, 11
    drawn.clear()
    assert synth(config, progress=False).searched == 0
    assert drawn == []
    files, trees = written(tmp_path / "run")
    assert len(files) > 2 and len(trees) == 12
    assert (files, trees) == written(tmp_path / "whole")
