"""`metacot view`: the page's data, and the page itself opened in headless Chromium with the network blocked."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from metacot.cli import main
from metacot.linearize import linearize_tree
from metacot.linearize.walk import Move, trace_to_solution, walk
from metacot.outputs.export import run_linearize_config
from metacot.outputs.rundir import RunDir, RunDirError
from metacot.tree import SearchTree
from metacot.view.data import run_data
from metacot.view.page import data_island

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOSTILE = "</script><script>window.pwned = 1</script><b>bold</b> & <!-- x"


def synth(out: Path, *flags: str) -> Path:
    assert (
        main(["synth", "--out", str(out), "--no-progress", "--num-problems", "4", "--simulations", "20", *flags]) == 0
    )
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A small MCTS run, an A* run of the same problems, and a DFS run (its walks step onto dead nodes) where a dead
    node's error is markup."""
    base = tmp_path_factory.mktemp("view")
    mcts = synth(base / "mcts")
    astar = synth(base / "astar", "--search", "astar", "--max-nodes", "60")
    hostile = synth(base / "hostile", "--search", "dfs")
    shard = RunDir(hostile).shards()[0]
    records = [orjson.loads(line) for line in shard.read_bytes().splitlines()]
    dead = next(node for record in records for node in dead_on_walk(record))
    dead["error"] = HOSTILE  # a dead node the training string steps onto
    shard.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return {"mcts": mcts, "astar": astar, "hostile": hostile}


def dead_on_walk(record: dict) -> list[dict]:
    """The dead nodes a solved tree's training string steps onto."""
    if not record["solved"]:
        return []
    tree = SearchTree.from_dict(record)
    walked = {m.node for m in walk(tree, trace_to_solution(tree, True)[0])}
    return [node for node in record["nodes"] if node.get("error") and node["id"] in walked]


def record_of(run: Path, problem_id: str) -> dict:
    directory = RunDir(run)
    tree = tree_of(run, problem_id)
    config = run_linearize_config(directory)
    return linearize_tree(tree, directory.domain(), config)["metacot"]


# ---------- the data (no browser) ----------


def test_data_island_escapes_every_angle_bracket():
    island = data_island({"error": HOSTILE})
    assert "<" not in island
    assert orjson.loads(island)["error"] == HOSTILE


def test_replay_moves_are_the_records_walk(runs):
    data = run_data(runs["mcts"])
    assert [row["id"] for row in data["rows"]] == [tree["id"] for tree in data["trees"]]
    for tree in data["trees"]:
        record = record_of(runs["mcts"], tree["id"]) if tree["solution_path"] else None
        kinds = [kind for kind, _, _ in tree["moves"]]
        assert tree["backtracks"] == kinds.count("backtrack")
        if record is not None:
            assert tree["backtracks"] == record["num_backtracks"]
            assert tree["completion"] == record["completion"]
            assert "".join(text for text, _, _ in tree["segments"]) == record["completion"]


def test_size_limit_keeps_rows_and_problem_picks_trees(runs):
    data = run_data(runs["mcts"], max_nodes=0)
    assert len(data["rows"]) == 4 and data["trees"] == []
    assert not any(row["embedded"] for row in data["rows"])
    first = data["rows"][1]["id"]
    picked = run_data(runs["mcts"], problems=[first], max_nodes=first_nodes(data, first))
    assert [t["id"] for t in picked["trees"]] == [first]
    with pytest.raises(RunDirError, match="no saved tree for problem 'nope'"):
        run_data(runs["mcts"], problems=["nope"])


def first_nodes(data: dict, problem_id: str) -> int:
    return next(row["nodes"] for row in data["rows"] if row["id"] == problem_id)


def test_cli_writes_one_file_with_nothing_external(runs, tmp_path, capsys):
    out = tmp_path / "page.html"
    assert main(["view", str(runs["mcts"]), "--out", str(out)]) == 0
    assert "4 trees" in capsys.readouterr().out
    html = out.read_text()
    for external in ("src=", 'href="http', "@import", "url("):
        assert external not in html
    assert main(["view", str(runs["mcts"])]) == 0
    assert (runs["mcts"] / "view.html").exists()


def test_the_page_node_limit_counts_every_tree_and_keeps_its_old_name(runs, tmp_path, capsys):
    # --page-nodes: the nodes of all embedded trees together (synth's --max-nodes is a per-tree search budget);
    # --max-nodes, its old name, still works here
    pages = {}
    for flag in ("--page-nodes", "--max-nodes"):
        pages[flag] = tmp_path / f"{flag}.html"
        assert main(["view", str(runs["mcts"]), "--out", str(pages[flag]), flag, "0"]) == 0
        assert "0 trees; 4 left out past 0 nodes (--page-nodes; pick them with --problem)" in capsys.readouterr().out
    assert pages["--page-nodes"].read_bytes() == pages["--max-nodes"].read_bytes()


# ---------- the page in a browser ----------


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (metacot[view])")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield browser
        browser.close()


class Page:
    """A page opened from file:// with every other request refused, its console errors and requests kept."""

    def __init__(self, browser, path: Path, fragment: str = ""):
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self._route)
        self.page.goto(path.resolve().as_uri() + fragment)
        self.page.wait_for_selector("body[data-ready]")

    def _route(self, route) -> None:
        self.requests.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    def check_clean(self) -> None:
        assert self.errors == []
        assert all(url.startswith("file://") for url in self.requests), self.requests


def view(run: Path, tmp_path: Path, *flags: str) -> Path:
    out = tmp_path / f"{run.name}.html"
    assert main(["view", str(run), "--out", str(out), *flags]) == 0
    return out


def test_index_sorts_filters_and_links(browser, runs, tmp_path):
    page = Page(browser, view(runs["mcts"], tmp_path))
    cells = page.page.locator("table.rows tbody tr td:first-child")
    assert cells.count() == 4
    page.page.click("th[data-key=nodes]")
    nodes = [int(t) for t in page.page.locator("table.rows tbody tr td:nth-child(4)").all_text_contents()]
    assert nodes == sorted(nodes)
    page.page.select_option("#which", "unsolved")
    unsolved = [row["id"] for row in run_data(runs["mcts"])["rows"] if not row["solved"]]
    assert page.page.locator("table.rows tbody tr").count() == len(unsolved)
    page.page.select_option("#which", "all")
    page.page.fill("#filter", "000002")
    assert cells.all_text_contents() == ["countdown-000002"]
    page.page.click("table.rows a")
    page.page.wait_for_selector(".pane")
    assert page.page.locator(".pane h2").text_content().endswith("countdown-000002")
    page.check_clean()


def test_a_malformed_hash_shows_a_page_not_a_blank(browser, runs, tmp_path):
    page = Page(browser, view(runs["mcts"], tmp_path), "#p=%E0%A4%A")
    assert "no embedded tree for %E0%A4%A" in page.page.locator(".pane").first.text_content()
    page.check_clean()


def test_tree_replay_and_string_follow_the_walk(browser, runs, tmp_path):
    data = run_data(runs["mcts"])
    tree = max(data["trees"], key=lambda t: t["backtracks"] if t["solution_path"] else -1)
    record = record_of(runs["mcts"], tree["id"])
    assert record["num_backtracks"] > 0
    page = Page(browser, view(runs["mcts"], tmp_path), f"#p={tree['id']}")
    assert page.page.locator(".pane .tree .node[data-id]").count() == len(tree["cols"]["parent"])
    steps = page.page.evaluate(
        """() => {
            const pane = document.querySelector('.pane');
            const next = pane.querySelector('button.next');
            const seen = [];
            for (let k = 0; k < Number(pane.querySelector('.slider').max) + 1; k++) {
                next.click();
                seen.push([pane.dataset.kind, Number(pane.dataset.current), Number(pane.dataset.backtracks),
                           pane.querySelector('.tree .node.current').dataset.id]);
            }
            return seen;
        }"""
    )
    moves = walk_of(runs["mcts"], tree["id"])
    assert [(kind, node) for kind, node, _, _ in steps] == [(m.kind, m.node) for m in moves]
    assert all(int(shown) == node for _, node, _, shown in steps)
    assert steps[-1][2] == record["num_backtracks"]
    assert page.page.locator(".pane ol.backtracks li").count() == record["num_backtracks"]
    # the step moves visit the trace's new nodes in the trace's order
    trace, _ = trace_to_solution(tree_of(runs["mcts"], tree["id"]), True)
    stepped = [node for kind, node, _, _ in steps if kind == "step"]
    firsts = list(dict.fromkeys(n for n in trace if n != 0))
    assert [n for n in stepped if n in set(firsts)] == firsts

    # a hovered line lights its node, and a hovered node lights its lines
    backtrack = page.page.locator(".pane .seg.backtrack").first
    node = backtrack.get_attribute("data-node")
    backtrack.hover()
    assert "lit" in page.page.locator(f".pane .tree .node[data-id='{node}']").get_attribute("class").split()
    step = page.page.locator(f".pane .seg.step:not([data-node='{node}'])").last
    other = step.get_attribute("data-node")
    page.page.locator(f".pane .tree .node[data-id='{other}']").hover()
    assert "lit" in (step.get_attribute("class") or "").split()
    assert page.page.locator(".pane .seg.lit").count() == page.page.locator(f".pane .seg[data-node='{other}']").count()
    assert "lit" not in page.page.locator(f".pane .tree .node[data-id='{node}']").get_attribute("class").split()
    page.check_clean()


def tree_of(run: Path, problem_id: str) -> SearchTree:
    return next(t for t in RunDir(run).iter_trees() if t.problem_id == problem_id)


def walk_of(run: Path, problem_id: str) -> list[Move]:
    tree = tree_of(run, problem_id)
    trace, _ = trace_to_solution(tree, True)
    return walk(tree, trace)


def test_markup_in_an_error_is_text(browser, runs, tmp_path):
    page = Page(browser, view(runs["hostile"], tmp_path))
    hostile = next(t for t in RunDir(runs["hostile"]).iter_trees() if any(n.error == HOSTILE for n in t.nodes))
    page.page.fill("#filter", hostile.problem_id[-6:])
    page.page.click("table.rows a >> nth=0")
    page.page.wait_for_selector(".pane")
    assert page.page.evaluate("window.pwned") is None
    assert page.page.locator(".pane b").count() == 0
    shown = page.page.locator(".pane .verdict.dead").all_text_contents()
    assert f"dead: {HOSTILE}" in shown
    assert any(HOSTILE in text for text in page.page.locator(".pane .seg").all_text_contents())
    page.check_clean()


def test_two_runs_side_by_side(browser, runs, tmp_path):
    out = view(runs["mcts"], tmp_path, "--compare", str(runs["astar"]), "--problem", "countdown-000001")
    page = Page(browser, out)
    panes = page.page.locator(".problem.compare .pane")
    assert panes.count() == 2
    assert [panes.nth(i).get_attribute("data-run") for i in range(2)] == ["mcts", "astar"]
    searches = page.page.locator(".pane .facts").all_text_contents()
    assert searches[0].startswith("mcts") and searches[1].startswith("astar")
    page.check_clean()


def test_screenshot(browser, runs, tmp_path):
    """METACOT_VIEW_SCREENSHOT=FILE: save the page of a default demo run of one problem there (docs/view.png)."""
    target = os.environ.get("METACOT_VIEW_SCREENSHOT")
    if not target:
        pytest.skip("set METACOT_VIEW_SCREENSHOT=FILE to take the docs' screenshot (docs/view.png)")
    run = tmp_path / "demo"
    assert main(["synth", "--out", str(run), "--no-progress", "--num-problems", "1"]) == 0
    page = Page(browser, view(run, tmp_path))
    for _ in range(12):
        page.page.click(".pane button.next")
    page.page.locator(".pane .seg.backtrack").first.hover()
    page.page.screenshot(path=target)
    page.check_clean()
