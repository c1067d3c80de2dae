"""BC-SFT records (behaviour-conditioned SFT, the Metacognitive Reuse paper's distillation set): a BCI run's traces
with the behaviours left out of the prompt, so that a student learns to use them without being given them.

Each record is the tree's trace record in one format: `prompt` (or the user turn of `messages`, linearize.layout)
is the problem alone, as in any trace record; `completion` (or the assistant turn) is the trace the
behaviour-conditioned search wrote, each step with the behaviours the teacher cited in it ("[behavior_<name>] step",
metacot.policy.cite; in the formats that write steps as sentences). `behaviors` names
those the teacher's prompt held; `cited`, those of them the completion names (`behavior_<name>` or the bare name).
Trees searched without behaviours are left out.
"""

from __future__ import annotations

import re
from dataclasses import replace

from metacot.linearize import LinearizeConfig, linearize_tree
from metacot.linearize.layout import texts
from metacot.problems.base import Domain
from metacot.tree import SearchTree


def cited(names: list[str], text: str) -> list[str]:
    """The names that `text` cites: as `behavior_<name>` (or `behaviour_`) or the bare name, as a whole word."""
    return [name for name in names if re.search(rf"(?<![\w])(?:behaviou?r_)?{re.escape(name)}(?![\w])", text, re.I)]


def bc_sft_records(tree: SearchTree, domain: Domain, config: LinearizeConfig, fmt: str) -> list[dict]:
    """The tree's BC-SFT record in format `fmt`: none when it was searched without behaviours or the format's
    options leave it out."""
    if not tree.behaviors:
        return []
    record = linearize_tree(tree, domain, replace(config, formats=[fmt]), citations=True).get(fmt)
    if record is None:
        return []
    return [{**record, "behaviors": list(tree.behaviors), "cited": cited(tree.behaviors, texts(record)[1])}]
