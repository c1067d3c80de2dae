"""Progress on stderr for work that can take seconds: the --no-progress flag, and every bar and note made one way."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

if TYPE_CHECKING:
    from metacot.outputs.rundir import RunDir
    from metacot.tree import SearchTree

TICK_SECONDS = 1.0  # how often a ticking bar's postfix is rewritten while the work inside a step goes on


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars or notes on stderr")


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    show: bool,
    total: float | None = None,
    unit: str = "it",
    desc: str | None = None,
    initial: int = 0,
) -> tqdm:
    """A bar on stderr (stdout is the command's result, read by people and scripts), shown whenever `show`, on a
    terminal or not."""
    return tqdm(iterable, total=total, initial=initial, unit=unit, desc=desc, disable=not show, file=sys.stderr)


def note(message: str, show: bool) -> None:
    """One line on stderr about a step with nothing to count (starting a Ray cluster), when progress is shown."""
    if show:
        tqdm.write(message, file=sys.stderr)


def tree_bar(directory: RunDir, show: bool, desc: str = "trees") -> Iterator[SearchTree]:
    """The run's trees (RunDir.iter_trees), with a bar of them; counted from the shards' indexes when shown."""
    total = directory.check_held() if show else None
    with progress_bar(directory.iter_trees(), show=show, total=total, unit="tree", desc=desc) as trees:
        yield from trees


@contextmanager
def ticking(bar: tqdm, postfix: Callable[[], str]) -> Iterator[None]:
    """While the block runs, the bar's postfix is postfix() again every TICK_SECONDS, from a thread of its own: a
    step that takes minutes (a batch of LLM calls) still shows what it is doing."""
    if bar.disable:
        yield
        return
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(TICK_SECONDS):
            bar.set_postfix_str(postfix())

    thread = threading.Thread(target=tick, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.set_postfix_str(postfix())


@contextmanager
def datasets_quiet(quiet: bool = True) -> Iterator[None]:
    """With `quiet`, no progress bars of the `datasets` library (an optional dependency, imported only then)
    inside the block; restored after."""
    if not quiet:
        yield
        return
    import datasets

    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if shown:
            datasets.enable_progress_bars()
