"""Readers verify before they trust: a damaged run directory or input gives one line naming what is wrong (exit 2),
quickly, and leaves the trace files as they were."""

from __future__ import annotations

import fcntl
import hashlib
import resource
import shutil
import subprocess
import sys

import orjson
import pytest

from metacot.tree import SearchTree
from metacot.treecheck import TreeError

COMMAND = [sys.executable, "-c", "import sys; from metacot.cli import main; sys.exit(main(sys.argv[1:]))"]
PROBLEMS = 6
DAMAGED = 3  # the line of the shard whose tree is damaged


def _bounded() -> None:
    """A child's memory bounded: a reader that does not bound what it reads fails here, not on the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def metacot(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout, preexec_fn=_bounded)


def refused(*args: str) -> str:
    """The one line of a command refused with exit 2."""
    done = metacot(*args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("metacot: error: "), done.stderr[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    run = tmp_path_factory.mktemp("made") / "run"
    done = metacot("synth", "--out", str(run), "--num-problems", str(PROBLEMS), "--no-progress", timeout=120)
    assert done.returncode == 0, done.stderr
    return run


@pytest.fixture
def run(made, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(made, copy)
    return copy


def traces(run) -> dict[str, str]:
    """Every file under traces/ (hidden ones too) and its digest."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((run / "traces").iterdir())}


def damage_tree(run, change) -> str:
    """Change the tree record on line DAMAGED of the shard, its length kept (the shard's index still fits: what
    is checked is the tree, not the index); its problem id."""
    shard = run / "trees" / "trees-00000.jsonl"
    lines = shard.read_bytes().splitlines(keepends=True)
    old = lines[DAMAGED - 1]
    record = orjson.loads(old)
    change(record)
    for node in record.get("nodes", []):  # room for the change: fields at their defaults left out
        if len(orjson.dumps(record)) < len(old):
            break
        for key in ("logprob", "prior", "error", "duplicates"):
            node.pop(key, None)
    new = orjson.dumps(record)
    assert len(new) < len(old)
    lines[DAMAGED - 1] = new + b" " * (len(old) - 1 - len(new)) + b"\n"
    shard.write_bytes(b"".join(lines))
    return record["problem_id"]


def solution_path(nodes: list[dict]) -> list[int]:
    node = next(n for n in nodes if n.get("correct"))
    path = [node["id"]]
    while nodes[path[-1]]["parent"] != -1:
        path.append(nodes[path[-1]]["parent"])
    return path[::-1]


def parent_cycle(record: dict) -> None:
    """A node on the solution path made its own child's child: walking up from the solution never ends."""
    nodes = record["nodes"]
    node = nodes[solution_path(nodes)[1]]
    node["parent"] = node["children"][0]


def bad_child(record: dict) -> None:
    record["nodes"][0]["children"][-1] = 99999


def without_nodes(record: dict) -> None:
    del record["nodes"]


READERS = {
    "linearize": ["linearize", "{run}"],
    "audit": ["audit", "{run}"],
    "export": ["export", "{run}", "--prm-labels"],
    "view": ["view", "{run}", "--out", "{out}/view.html"],
    "prime": ["prime", "{run}", "--variant", "all_strategies", "--out", "{out}/prime.jsonl"],
    "behaviors": ["behaviors", "{run}", "--tagger", "structural", "--out", "{out}/behaviors"],
    "show": ["show", "{run}", "--problem", "{problem}"],
}


def command(name: str, run, tmp_path, problem: str = "") -> list[str]:
    args = [a.format(run=run, out=tmp_path, problem=problem) for a in READERS[name]]
    return args if name == "show" else [*args, "--no-progress"]


@pytest.mark.parametrize("name", READERS)
def test_a_parent_cycle_is_one_line_naming_the_file_and_line_for_every_reader(run, tmp_path, name):
    problem = damage_tree(run, parent_cycle)
    before = traces(run)
    line = refused(*command(name, run, tmp_path, problem))
    assert f"trees-00000.jsonl:{DAMAGED}: node " in line and "parent cycle" in line
    assert traces(run) == before


@pytest.mark.parametrize("damage", [bad_child, without_nodes])
def test_a_damaged_tree_is_one_line_and_linearize_leaves_the_traces(run, damage):
    damage_tree(run, damage)
    before = traces(run)
    line = refused("linearize", str(run), "--no-progress")
    assert f"{run / 'trees' / 'trees-00000.jsonl'}:{DAMAGED}: " in line
    assert traces(run) == before  # the trees before the damaged one were not written over them


@pytest.mark.parametrize("name", ["linearize", "export", "view", "prime"])
def test_a_run_whose_trees_moved_away_is_refused_and_its_traces_kept(run, tmp_path, name):
    shutil.move(run / "trees", tmp_path / "moved")
    before = traces(run)
    assert "trees" in refused(*command(name, run, tmp_path))
    assert traces(run) == before


def test_linearize_refuses_a_run_with_fewer_trees_than_its_stats_count(run):
    shard = run / "trees" / "trees-00000.jsonl"
    shard.write_bytes(b"".join(shard.read_bytes().splitlines(keepends=True)[:2]))
    (run / "trees" / "trees-00000.idx").unlink()
    (run / "traces" / ".state.json").unlink()  # the stats alone still know
    before = traces(run)
    line = refused("linearize", str(run), "--no-progress")
    assert f"stats.json counts {PROBLEMS} trees but" in line and "holds 2" in line
    assert traces(run) == before


def test_a_tampered_trace_state_is_refused_by_a_resume_and_by_linearize(run):
    state = run / "traces" / ".state.json"
    tampered = orjson.loads(state.read_bytes())
    tampered["trees"]["problems"] = 999
    state.write_bytes(orjson.dumps(tampered))
    stats = (run / "stats.json").read_bytes()
    before = traces(run)
    resume = ["synth", "--out", str(run), "--num-problems", str(PROBLEMS), "--no-progress"]
    for args in (resume, ["linearize", str(run), "--no-progress"]):
        assert "counts 999 trees" in refused(*args)
        assert traces(run) == before and (run / "stats.json").read_bytes() == stats


def test_audit_waits_for_no_synth_and_names_a_trace_record_without_a_tree(run):
    with (run / ".lock").open("ab") as lock:  # as a synth running on the run holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert "in use by another metacot process" in refused("audit", str(run), "--no-progress")
    cot = run / "traces" / "cot.jsonl"
    ghost = {**orjson.loads(cot.read_bytes().splitlines()[0]), "problem_id": "ghost"}
    with cot.open("ab") as f:
        f.write(orjson.dumps(ghost) + b"\n")
    line = refused("audit", str(run), "--no-progress", "--format", "cot")
    assert f"cot.jsonl:{PROBLEMS + 1}: problem 'ghost' has no tree" in line


@pytest.mark.parametrize(
    "args", [["behaviors", "/dev/zero", "--no-progress", "--out", "{out}/b"], ["handbook", "show", "/dev/zero"]]
)
def test_a_file_without_line_ends_is_refused_without_reading_it_all(tmp_path, args):
    line = refused(*[a.format(out=tmp_path) for a in args])
    assert line.startswith("metacot: error: /dev/zero:1: a line longer than")


def test_a_handbook_line_over_a_mebibyte_is_refused(tmp_path):
    path = tmp_path / "hb.jsonl"
    path.write_bytes(b'{"name": "' + b"x" * (1 << 20) + b'"}\n')
    assert f"{path}:1: a line longer than 1048576 bytes" in refused("handbook", "show", str(path))


def tree_record() -> dict:
    tree = SearchTree.with_root("p", {"id": "p"}, state=[1, 2])
    a = tree.add_child(tree.root, "a")
    b = tree.add_child(a, "b")
    tree.add_child(tree.root, "c")
    tree.trace = [0, a.id, b.id]
    return tree.to_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["nodes"][1].update(parent=2), "node 1 has parent 2, not an earlier node (a parent cycle?)"),
        (lambda r: r["nodes"][2].update(parent=2), "node 2 has parent 2"),
        (lambda r: r["nodes"][0]["children"].append(9), "node 0 lists child 9, which is no node whose parent is 0"),
        (lambda r: r["nodes"][1]["children"].append(3), "node 1 lists child 3, which is no node whose parent is 1"),
        (lambda r: r["nodes"][0]["children"].append(1), "node 0 lists child 1 twice"),
        (lambda r: r["nodes"][0]["children"].remove(3), "node 3 is not among its parent 0's children"),
        (lambda r: r["nodes"][2].update(depth=5), "node 2 has depth 5; its parent 1's is 1"),
        (lambda r: r["nodes"][2].update(id=7), "node 2 has id 7"),
        (lambda r: r["nodes"][0].update(parent=1), "the root has parent 1"),
        (lambda r: r.update(trace=[0, 4]), "the trace names a node that the tree does not have"),
        (lambda r: r.update(trace_values=[0.5] * 4), "4 trace values for 3 trace visits"),
        (lambda r: r.update(nodes=[]), "a tree record without nodes"),
        (lambda r: r.pop("nodes"), "no 'nodes' field"),
        (lambda r: r["nodes"][1].pop("parent"), "no 'parent' field"),
        (lambda r: r.update(nodes=[1, 2]), "not a tree record"),
    ],
)
def test_a_damaged_tree_record_is_a_tree_error_saying_what_is_wrong(change, message):
    record = tree_record()
    assert SearchTree.from_dict(record).to_dict() == record
    change(record)
    with pytest.raises(TreeError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        SearchTree.from_dict(record)


def test_linearize_puts_the_old_traces_back_when_stopped_and_leaves_nothing_aside_when_done(run, monkeypatch):
    from metacot.linearize import LinearizeConfig
    from metacot.outputs import traces as writer
    from metacot.synth import relinearize

    before = traces(run)
    real, calls = writer.linearize_tree, []

    def stopped_after_two(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "linearize_tree", stopped_after_two)
    with pytest.raises(KeyboardInterrupt):
        relinearize(run, LinearizeConfig(formats=["metacot", "cot"], value_lines=True))
    assert traces(run) == before  # hidden files set aside included: none left
    monkeypatch.setattr(writer, "linearize_tree", real)
    relinearize(run, LinearizeConfig(formats=["metacot", "cot"], value_lines=True))
    after = traces(run)
    assert sorted(after) == sorted(before) and after["metacot.jsonl"] != before["metacot.jsonl"]
