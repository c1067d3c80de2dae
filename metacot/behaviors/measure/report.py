"""Behaviour counts summed up: per-group shares and means, the printed table, the bar chart, tagger agreement."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from metacot.behaviors.definitions import BEHAVIORS
from metacot.behaviors.measure.base import COLUMNS, BehaviorCounts
from metacot.bench.plots import pyplot, save_figure


@dataclass
class GroupSummary:
    """One group's records: the share showing each behaviour and its mean count (over the records the tagger could
    count for it; the strict backtracking reading too), and how many (record, behaviour) counts it could not."""

    group: str
    records: int
    share: dict[str, float]
    mean: dict[str, float]
    unparsed: int


@dataclass
class _Tally:
    """One group's counts so far: records, and per behaviour the records it could count, showed it, the sum."""

    records: int = 0
    known: Counter[str] = field(default_factory=Counter)
    showing: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    unparsed: int = 0

    def add(self, counts: BehaviorCounts) -> None:
        self.records += 1
        self.unparsed += len(counts.unparsed)
        for name in COLUMNS:
            n = counts.counts.get(name)
            if n is not None:
                self.known[name] += 1
                self.showing[name] += n > 0
                self.total[name] += n

    def summary(self, group: str) -> GroupSummary:
        share = {n: _share(self.showing[n], self.known[n]) for n in COLUMNS}
        mean = {n: _share(self.total[n], self.known[n]) for n in COLUMNS}
        return GroupSummary(group, self.records, share, mean, self.unparsed)


def summarize(counted: Iterable[tuple[str, BehaviorCounts]]) -> list[GroupSummary]:
    """A summary per group of (group, counts) pairs, in the order the groups first appear; read once."""
    tallies: dict[str, _Tally] = {}
    for group, counts in counted:
        tallies.setdefault(group, _Tally()).add(counts)
    return [tally.summary(group) for group, tally in tallies.items()]


def _share(part: float, whole: float) -> float:
    return part / whole if whole else math.nan


def table(summaries: list[GroupSummary], group_label: str) -> str:
    """Per group: records, then per behaviour (and the strict backtracking reading) the share of records showing it
    and (in brackets) its mean count ("-": not counted)."""
    header = [group_label, "records", *COLUMNS, "unparsed"]
    rows = [
        [s.group, str(s.records), *(_cell(s.share[n], s.mean[n]) for n in COLUMNS), str(s.unparsed)] for s in summaries
    ]
    return aligned([header, *rows])


def aligned(rows: list[list[str]]) -> str:
    """The rows as columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    )


def _cell(share: float, mean: float) -> str:
    return "-" if math.isnan(share) else f"{share:.0%} ({mean:.2f})"


@dataclass
class Agreement:
    """Per behaviour (and the strict backtracking reading), how a tagger's counts compare with reference counts
    (another tagger's, or hand labels) on the records both could count: presence (agreeing either way, and the
    reference's positives found, the tagger's positives right), exact counts and counts within one."""

    both: Counter[str] = field(default_factory=Counter)
    agree: Counter[str] = field(default_factory=Counter)  # presence agrees
    found: Counter[str] = field(default_factory=Counter)  # both show it
    theirs: Counter[str] = field(default_factory=Counter)  # the reference shows it
    ours: Counter[str] = field(default_factory=Counter)  # the tagger shows it
    exact: Counter[str] = field(default_factory=Counter)
    near: Counter[str] = field(default_factory=Counter)  # within one

    def add(self, ours: BehaviorCounts, theirs: BehaviorCounts) -> None:
        for name in COLUMNS:
            if ours.known(name) and theirs.known(name):
                x, y = ours.counts[name] or 0, theirs.counts[name] or 0
                self.both[name] += 1
                self.agree[name] += (x > 0) == (y > 0)
                self.found[name] += x > 0 and y > 0
                self.theirs[name] += y > 0
                self.ours[name] += x > 0
                self.exact[name] += x == y
                self.near[name] += abs(x - y) <= 1

    def shares(self) -> dict[str, float]:
        """The share of records agreeing on presence, per behaviour (NaN when none could be counted by both)."""
        return {n: _share(self.agree[n], self.both[n]) for n in BEHAVIORS}


def agreement(a: list[BehaviorCounts], b: list[BehaviorCounts]) -> dict[str, float]:
    """Per behaviour, the share of records on which two taggers agree whether it is present (records either could
    not count left out; NaN when none is left)."""
    if len(a) != len(b):
        raise ValueError(f"agreement: {len(a)} records against {len(b)}")
    tally = Agreement()
    for x, y in zip(a, b, strict=True):
        tally.add(x, y)
    return tally.shares()


def agreement_table(tallies: dict[str, Agreement], group_label: str) -> str:
    """Per group and column counted by both: the share of records agreeing on presence / on the exact count / on
    the count within one."""
    names = _compared(tallies)
    rows = [[group_label, *names]]
    for group, t in tallies.items():
        cells = [
            f"{_pct(t.agree[n], t.both[n])}/{_pct(t.exact[n], t.both[n])}/{_pct(t.near[n], t.both[n])}" for n in names
        ]
        rows.append([group, *cells])
    return aligned(rows)


def recall_table(tallies: dict[str, Agreement], group_label: str) -> str:
    """Per group and behaviour compared: recall and precision against the reference (with the counts they come
    from)."""
    names = _compared(tallies)
    rows = [[group_label, *names]]
    for group, t in tallies.items():
        cells = [
            f"R {_pct(t.found[n], t.theirs[n])} ({t.found[n]}/{t.theirs[n]}) P {_pct(t.found[n], t.ours[n])} "
            f"({t.found[n]}/{t.ours[n]})"
            for n in names
        ]
        rows.append([group, *cells])
    return aligned(rows)


def _compared(tallies: dict[str, Agreement]) -> list[str]:
    """The columns compared on some record of some group."""
    return [n for n in COLUMNS if any(t.both[n] for t in tallies.values())]


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


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
