"""Page size and open time of `metacot view` pages, opened in headless Chromium (Debian's, driven by playwright).

    python scripts/bench_view.py RUN_DIR [RUN_DIR ...]        # from the repository root

For each run: the time `metacot view` takes to write the page, its size, and in the browser the time from navigation
to the first view drawn (the index, or the tree when the page holds one problem), then for the largest embedded tree
the time to draw it (tree rendered) and to draw all its nodes ("expand all").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from metacot.view import write_view

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def bench(browser, run: Path) -> None:
    started = time.perf_counter()
    page_path, runs = write_view(run, Path("/tmp") / f"bench-view-{run.name}.html")
    written = time.perf_counter() - started
    trees = runs[0]["trees"]
    nodes = sum(len(t["cols"]["parent"]) for t in trees)
    largest = max(trees, key=lambda t: len(t["cols"]["parent"]))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    page.goto(page_path.resolve().as_uri())
    page.wait_for_selector("body[data-ready]")
    opened = float(page.get_attribute("body", "data-opened-at") or "nan")
    if len(runs[0]["rows"]) > 1:  # else the first view is the tree
        page.evaluate("id => { location.hash = 'p=' + encodeURIComponent(id); }", largest["id"])
        page.wait_for_selector(".pane")
    tree_ms = float(page.get_attribute("body", "data-rendered") or "nan")
    drawn = page.locator(".pane .tree .node[data-id]").count()
    expand_ms = page.evaluate(
        "() => { const t = performance.now(); document.querySelector('.pane .expand-all').click();"
        " return performance.now() - t; }"
    )
    page.close()
    print(
        f"{run}: {len(runs[0]['rows'])} problems, {len(trees)} trees embedded ({nodes} nodes); written in "
        f"{written:.1f} s; {page_path.stat().st_size / 1e6:.1f} MB; opened (first view drawn) in {opened:.0f} ms; "
        f"largest tree {len(largest['cols']['parent'])} nodes: drawn in {tree_ms:.0f} ms ({drawn} nodes drawn), "
        f"expand all {expand_ms:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for run in args.runs:
            bench(browser, run)
        browser.close()


if __name__ == "__main__":
    main()
