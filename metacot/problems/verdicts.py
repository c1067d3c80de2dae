"""Answer verdicts kept in the search tree they were decided for, so that nothing decides one twice.

A domain whose answer check is costly or may run out of time (math) asks `kept(answer, decide)`; whoever works on a
tree (growing it, rolling out from its nodes, auditing it) holds `keeping(tree.verdicts)` meanwhile. The first
check of an answer is decided and written into the tree; every later one (another path to the same answer, a
rollout, a retried search seeded with an earlier tree's verdicts, an audit of the saved tree) reuses it. A tree
has one problem, so its verdicts are per (answer, gold answer).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

Verdict = bool | None  # None: undecided (the check ran out of time)

_KEPT: ContextVar[dict[str, Verdict] | None] = ContextVar("metacot_verdicts", default=None)


class keeping:  # lower case: used like the function it was, `with keeping(tree.verdicts):`
    """Within the block, answer checks look in `verdicts` (a tree's) first and add what they decide to it.

    A class, not a @contextmanager generator: search enters it for every expansion, and the generator's
    enter and exit cost three times as much."""

    __slots__ = ("verdicts", "token")

    def __init__(self, verdicts: dict[str, Verdict]):
        self.verdicts = verdicts

    def __enter__(self) -> None:
        self.token = _KEPT.set(self.verdicts)

    def __exit__(self, *exc: object) -> None:
        _KEPT.reset(self.token)


def kept(answer: str, decide: Callable[[], Verdict]) -> Verdict:
    """The verdict on `answer` kept in the tree being worked on; else decide() (kept, if a tree is)."""
    verdicts = _KEPT.get()
    if verdicts is None:
        return decide()
    if answer not in verdicts:
        verdicts[answer] = decide()
    return verdicts[answer]
