"""Behaviour citations in a conditioned policy's steps: read off a proposal's text, and written back where shown."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from metacot.backends.request import Conditioning
from metacot.policy.base import Proposal

# How a step cites a behaviour, as the conditioned prompt asks (behaviors.handbook.bci.HEAD) and as traces show it
CITATION = "[behavior_{name}]"
# A citation mark in model text: "[behavior_x]" (or "behaviour_"), or a leading "behavior_x:" as the prompt lists them
_MARK = re.compile(r"\[\s*behaviou?r_(\w+)\s*\]\s*|^\s*behaviou?r_(\w+)\s*:\s*", re.I)


def split_citations(text: str, names: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """(the text without its citation marks, the names among `names` it cites, in order, each once). A mark naming
    no behaviour of `names` is removed and not counted: the model cited what its prompt did not hold."""
    known = {name.lower(): name for name in names}
    found = [known.get((m[1] or m[2]).lower()) for m in _MARK.finditer(text)]
    if not found:
        return text, ()
    cites = tuple(dict.fromkeys(name for name in found if name is not None))
    return _MARK.sub("", text).strip(), cites


def cited_proposals(proposals: list[Proposal], conditioning: Conditioning | None) -> list[Proposal]:
    """The proposals with the citations of the conditioning's behaviours read off their text (Proposal.cites);
    unchanged when the problem is not conditioned on behaviours."""
    if conditioning is None or not conditioning.behaviors:
        return proposals
    out = []
    for p in proposals:
        text, cites = split_citations(p.text, conditioning.behaviors)
        out.append(p if text == p.text else replace(p, text=text, cites=cites))
    return out


def with_citations(step: str, cites: Sequence[str]) -> str:
    """The step as its policy wrote it: its citations first."""
    return " ".join([*(CITATION.format(name=name) for name in cites), step])
