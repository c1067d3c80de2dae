"""Strategy benchmark plots: solve rate against budget and against PRM noise, with 95% intervals (matplotlib)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from metacot.outputs.files import write_atomic

BUDGET_PLOT, NOISE_PLOT = "solve_rate_vs_budget.png", "solve_rate_vs_noise.png"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")


def pyplot() -> Any:
    """matplotlib.pyplot drawing to files (the Agg backend); None, with a note on stderr, when matplotlib is not
    installed (the bench extra): every plot of metacot is optional."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("metacot: matplotlib is not installed (pip install 'metacot[bench]'): no plots", file=sys.stderr)
        return None
    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """The figure written at path in the format its suffix names (through write_atomic, which refuses a path that is
    not a regular file), and closed."""
    import matplotlib.pyplot as plt

    image = io.BytesIO()
    fig.savefig(image, format=path.suffix.lstrip(".") or None)
    plt.close(fig)
    return write_atomic(path, image.getvalue())


def plot(out: Path, summary: list[dict], title: str = "") -> list[Path]:
    """Solve rate vs budget (at the lowest noise) and vs noise (at the largest budget), one line per strategy,
    with the 95% intervals shaded; nothing (and a note on stderr) when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return []
    if not summary:
        return []
    unit = summary[0]["unit"]
    noise0 = min(e["noise"] for e in summary)
    top = max(e["budget"] for e in summary)
    figures = [
        (BUDGET_PLOT, "budget", "noise", noise0, f"budget ({unit} per problem)", f"PRM flip probability {noise0:g}"),
        (NOISE_PLOT, "noise", "budget", top, "PRM flip probability", f"budget {top} {unit} per problem"),
    ]
    written = []
    for name, x_key, fixed_key, fixed, xlabel, subtitle in figures:
        fig, ax = plt.subplots(figsize=(6.6, 3.4), dpi=100)
        strategies = list(dict.fromkeys(e["strategy"] for e in summary))
        for index, strategy in enumerate(strategies):
            points = sorted(
                (e[x_key], e["solve_rate"], e["ci_low"], e["ci_high"])
                for e in summary
                if e["strategy"] == strategy and e[fixed_key] == fixed
            )
            if not points:
                continue
            xs, ys, lows, highs = zip(*points, strict=True)
            (line,) = ax.plot(
                xs,
                [100 * y for y in ys],
                marker=MARKERS[index % len(MARKERS)],
                linestyle=LINESTYLES[index % len(LINESTYLES)],
                markersize=4,
                linewidth=1.3,
                label=strategy,
            )
            ax.fill_between(xs, [100 * v for v in lows], [100 * v for v in highs], alpha=0.12, color=line.get_color())
        if x_key == "budget":
            ax.set_xscale("log")
            ticks = sorted({e["budget"] for e in summary})
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(t) for t in ticks])
            ax.minorticks_off()
        ax.set_ylim(0, 100)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("solved (%)")
        ax.set_title(f"{title}: {subtitle}" if title else subtitle, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        path = out / name
        written.append(save_figure(fig, path))
    return written
