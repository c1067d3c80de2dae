"""Behaviour counts summed up: per-group shares and means, the printed table, the bar chart, tagger agreement."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from metacot.behaviors.definitions import BEHAVIORS
from metacot.behaviors.measure.base import BehaviorCounts
from metacot.bench.plots import pyplot, save_figure


@dataclass
class GroupSummary:
    """One group's records: the share showing each behaviour and its mean count (over the records the tagger could
    count for it), and how many (record, behaviour) counts it could not."""

    group: str
    records: int
    share: dict[str, float]
    mean: dict[str, float]
    unparsed: int


def summarize(groups: list[str], counts: list[BehaviorCounts]) -> list[GroupSummary]:
    """A summary per group, in the order the groups first appear."""
    out = []
    for group in dict.fromkeys(groups):
        members = [c for g, c in zip(groups, counts, strict=True) if g == group]
        share, mean = {}, {}
        for name in BEHAVIORS:
            known = [c.counts[name] or 0 for c in members if c.counts.get(name) is not None]
            share[name] = sum(n > 0 for n in known) / len(known) if known else math.nan
            mean[name] = sum(known) / len(known) if known else math.nan
        unparsed = sum(len(c.unparsed) for c in members)
        out.append(GroupSummary(group, len(members), share, mean, unparsed))
    return out


def table(summaries: list[GroupSummary], group_label: str) -> str:
    """Per group: records, then per behaviour the share of records showing it and (in brackets) its mean count."""
    header = [group_label, "records", *BEHAVIORS, "unparsed"]
    rows = [
        [s.group, str(s.records), *(_cell(s.share[n], s.mean[n]) for n in BEHAVIORS), str(s.unparsed)]
        for s in summaries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [header, *rows]
    )


def _cell(share: float, mean: float) -> str:
    return "-" if math.isnan(share) else f"{share:.0%} ({mean:.2f})"


def agreement(a: list[BehaviorCounts], b: list[BehaviorCounts]) -> dict[str, float]:
    """Per behaviour, the share of records on which two taggers agree whether it is present (records either could
    not count left out; NaN when none is left)."""
    if len(a) != len(b):
        raise ValueError(f"agreement: {len(a)} records against {len(b)}")
    out = {}
    for name in BEHAVIORS:
        pairs = [(x, y) for x, y in zip(a, b, strict=True) if name not in x.unparsed and name not in y.unparsed]
        out[name] = sum(x.shows(name) == y.shows(name) for x, y in pairs) / len(pairs) if pairs else math.nan
    return out


def plot(path: Path, summaries: list[GroupSummary], title: str = "") -> Path | None:
    """A grouped bar chart of the share of records showing each behaviour, one bar per group, saved at `path`;
    nothing (and a note on stderr) when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return None
    if not summaries:
        return None
    fig, ax = plt.subplots(figsize=(6.6, 3.4), dpi=100)
    width = 0.8 / len(summaries)
    for index, s in enumerate(summaries):
        xs = [i + (index - (len(summaries) - 1) / 2) * width for i in range(len(BEHAVIORS))]
        ys = [0.0 if math.isnan(s.share[n]) else 100 * s.share[n] for n in BEHAVIORS]
        ax.bar(xs, ys, width=width, label=f"{s.group} ({s.records})")
    ax.set_xticks(range(len(BEHAVIORS)))
    ax.set_xticklabels([n.replace("_", " ") for n in BEHAVIORS], fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("records showing it (%)")
    ax.set_title(title or "cognitive behaviours", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save_figure(fig, path)
