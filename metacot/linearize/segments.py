"""Cut a record's completion into segments by the move each part was written for, with on-path flags."""

from __future__ import annotations

from itertools import groupby

from metacot.linearize.render import Lines
from metacot.linearize.walk import Move

OPEN, ANSWER, TEXT = "open", "answer", "text"  # segment kinds besides the moves' own ("step", "backtrack")


def segments(
    lines: Lines,
    moves: list[Move],
    separator: str,
    opening: str,
    closing: str,
    path: list[int],
) -> list[dict]:
    """The completion (opening + lines joined by separator + closing) as consecutive segments whose texts add up to
    it: {"text", "kind", "node", "on_path"}. `lines` are a format's, each marked by the index in `moves` of the move
    it was written for (TraceFormat.segments).

    A move's lines form one segment, ending with the separator that follows them; its node is the node the move
    ends at, and it is on the path when that node is on the root-to-solution path (`path`, root first): a step
    onto the path, or a backtrack that returns to a node on it. Steps into branches the solution does not pass
    through, and backtracks between nodes of such branches, are off the path. The opening (<think>) and the
    closing answer block are on the path; an unsolved record (empty path) has every move off it."""
    out = [_segment(opening, OPEN, None, True)] if opening else []
    groups = [(index, list(texts)) for index, texts in _by_move(lines)]
    for k, (index, texts) in enumerate(groups):
        text = separator.join(texts) + (separator if k < len(groups) - 1 else "")
        if index is None:
            out.append(_segment(text, TEXT, None, True))
        else:
            move = moves[index]
            out.append(_segment(text, move.kind, move.node, move.node in path))
    out.append(_segment(closing, ANSWER, path[-1] if path else None, True))
    return out


def _by_move(lines: Lines):
    pairs = zip(lines.moves, lines, strict=True)
    for index, group in groupby(pairs, key=lambda pair: pair[0]):
        yield index, (text for _, text in group)


def _segment(text: str, kind: str, node: int | None, on_path: bool) -> dict:
    return {"text": text, "kind": kind, "node": node, "on_path": on_path}
