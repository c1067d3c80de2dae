"""Seeded problem generators that resume: the random state saved every N problems, and a resumed run's problems
drawn from the nearest saved state instead of from the first problem."""

from __future__ import annotations

import random
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any

from metacot.problems.base import Drawer, problem_digest

EVERY = 1000  # problems between two saved states: a resume draws at most EVERY - 1 finished problems again


def drawn(
    drawer: Drawer,
    done: Container[str] = frozenset(),
    saved: Iterable[Any] = (),
    save: Callable[[dict], None] | None = None,
) -> Iterator[Any]:
    """The drawer's problems whose ids are not `done`, in order. Finished problems are not drawn again where a saved
    state (a record an earlier pass handed to `save`: {"key", "index", "state", "next"}) lets the stream skip them;
    a state that is not the drawer's (another key, a malformed record, or one that does not draw the problem it
    recorded next) is not used. `save` is handed the state before every EVERY-th problem not saved yet."""
    stream = _Stream(drawer, {r["index"]: r for r in saved if _usable(r, drawer)}, save)
    for index in range(drawer.count):
        if drawer.problem_id(index) not in done:
            yield stream.problem(index)


class _Stream:
    """The drawer's random stream, moved on to each problem asked for."""

    def __init__(self, drawer: Drawer, states: dict[int, dict], save: Callable[[dict], None] | None):
        self.drawer, self.states, self.save = drawer, states, save
        self.saved = set(states)  # indices with a saved state: not saved again
        self.rng = random.Random(drawer.seed)
        self.position = 0  # the index of the problem the stream draws next

    def problem(self, index: int) -> Any:
        self._skip_to(index)
        while True:
            problem = self._draw()
            if self.position > index:
                return problem

    def _skip_to(self, index: int) -> None:
        """On to the nearest saved state past the stream's position and not past `index` that draws the problem
        it recorded, if any."""
        while self.position < index and (
            nearest := max((i for i in self.states if self.position < i <= index), default=0)
        ):
            record = self.states.pop(nearest)
            state = _state(record["state"])
            if state is not None and self._draws(state, nearest, record["next"]):
                self.rng.setstate(state)
                self.position = nearest
                return
            self.saved.discard(nearest)  # a bad record: the right state is saved when the stream gets there

    def _draws(self, state: tuple, index: int, digest: str) -> bool:
        """Whether the stream in this state draws the problem with this digest next."""
        probe = random.Random()
        probe.setstate(state)
        return problem_digest(self.drawer.draw(probe, index)) == digest

    def _draw(self) -> Any:
        index = self.position
        state = None
        if self.save is not None and index % EVERY == 0 and index not in self.saved:
            state = self.rng.getstate()
        problem = self.drawer.draw(self.rng, index)
        self.position += 1
        if state is not None and self.save is not None:
            self.save({"key": self.drawer.key, "index": index, "state": state, "next": problem_digest(problem)})
            self.saved.add(index)
        return problem


def _usable(record: Any, drawer: Drawer) -> bool:
    return (
        isinstance(record, dict)
        and record.get("key") == drawer.key
        and type(record.get("index")) is int
        and 0 <= record["index"] < drawer.count
        and isinstance(record.get("next"), str)
    )


def _state(saved: Any) -> tuple | None:
    """A generator's state as getstate() gave it, from its JSON form; None for a malformed one."""
    try:
        version, internal, gauss = saved
        state = (version, tuple(internal), gauss)
        random.Random().setstate(state)  # the generator's own checks
    except (TypeError, ValueError, OverflowError):
        return None
    return state
