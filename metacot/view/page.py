"""Fill the viewer template with a run's data: one HTML file, its scripts, styles and data inline."""

from __future__ import annotations

import re
from collections.abc import Collection
from importlib import resources
from pathlib import Path

import orjson

from metacot.outputs.files import AtomicFile, output_target
from metacot.view.data import MAX_NODES, run_data

PLACES = re.compile(r"/\*STYLE\*/|/\*SCRIPT\*/|__DATA__|__TITLE__")


def data_island(data: dict) -> str:
    """JSON that a <script type="application/json"> holds safely: every "<" escaped, so no string in it (a step, a
    dead node's error) can close the script or open a comment; JSON.parse reads "\\u003c" back as "<"."""
    return orjson.dumps(data).decode().replace("<", "\\u003c")


def render_page(runs: list[dict]) -> str:
    """The page for one run, or two side by side (the first one's index leads)."""
    folder = resources.files("metacot.view")
    title = "metacot view: " + " vs ".join(run["name"] for run in runs)
    fills = {
        "/*STYLE*/": (folder / "view.css").read_text(encoding="utf-8"),
        "/*SCRIPT*/": (folder / "view.js").read_text(encoding="utf-8"),
        "__DATA__": data_island({"runs": runs}),
        "__TITLE__": title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    }
    # every place filled in one pass: text put in one place is never searched for another
    template = (folder / "template.html").read_text(encoding="utf-8")
    return PLACES.sub(lambda match: fills[match.group(0)], template)


def write_view(
    run_dir: str | Path,
    out: str | Path | None = None,
    problems: Collection[str] = (),
    compare: str | Path | None = None,
    fmt: str | None = None,
    max_nodes: int = MAX_NODES,
    progress: bool = False,
) -> tuple[Path, list[dict]]:
    """Write the page (default RUN_DIR/view.html); where it is, and the runs it shows. `progress`: a bar of each
    run's trees on stderr."""
    target = output_target(Path(out) if out is not None else Path(run_dir) / "view.html")  # refused before the work
    runs = [run_data(run_dir, problems, fmt, max_nodes, progress)]
    if compare is not None:
        runs.append(run_data(compare, problems, fmt, max_nodes, progress))
    with AtomicFile(target) as file:
        file.write(render_page(runs).encode("utf-8"))
    return target, runs
