"""Build a handbook from a run: reflect on each search tree and its trace, distil named behaviours, parse them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from metacot.backends.generate import Sampling, TextGenerator
from metacot.behaviors.handbook.entries import Entry, Provenance, normalise_name
from metacot.behaviors.handbook.retrieval import problem_topic
from metacot.linearize.layout import texts
from metacot.outputs.files import write_atomic
from metacot.outputs.records import read_records
from metacot.outputs.rundir import RunDir
from metacot.progress import progress_bar, ticking
from metacot.tree import SearchTree

TRACE_FORMAT = "metacot"  # the linearized trace shown to the reflection: the dead ends and backtracks included
DEAD_ENDS = 5  # failed branches listed per tree, besides those in the trace

REFLECT = """You solved a problem by searching over reasoning steps. Here is the problem, {outcome}, \
some failed branches, and the full search trace with its backtracks.

Problem:
{question}

{solution}

Failed branches:
{dead_ends}

Search trace:
{trace}

Reflect on this search:
1. Correctness: is each step of the solution right? Which failed branches were avoidable, and why?
2. Missing behaviours: which general rule of thumb would have found the solution sooner or avoided the dead ends?
3. New behaviours: which part of this reasoning generalises to other problems of the same kind?"""

DISTIL = """Here is a problem and a reflection on how it was solved.

Problem:
{question}

Reflection:
{reflection}

Turn the reflection into a list of reusable behaviours. Write one per line, exactly in this form:
behavior_<short_name_with_underscores>: <one-sentence instruction that applies to other problems>
Write nothing else."""

# "behavior_name: instruction", after an optional bullet, number or bold marks
ITEM = re.compile(
    r"^[\s>*\-+•\d.)]*\**\s*(behaviou?r_[A-Za-z0-9_\- ]+?)\**(?:\s*:|\s+[-–]\s)\s*(.+?)\s*$", re.IGNORECASE
)
ATTEMPT = re.compile(r"behaviou?r", re.IGNORECASE)  # a line that tries to name one


@dataclass
class Parsed:
    """What one distillation reply gave: behaviours as (name, instruction), and the lines that tried but failed."""

    items: list[tuple[str, str]] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)


def parse_behaviors(text: str) -> Parsed:
    """The `behavior_<name>: <instruction>` lines of a reply; any other line that mentions a behaviour is malformed
    (kept raw); everything else is ignored. Never raises."""
    parsed = Parsed()
    for line in text.splitlines():
        match = ITEM.match(line)
        name = normalise_name(match.group(1)) if match else ""
        if match and name and len(match.group(2)) >= 3:
            parsed.items.append((name, match.group(2)))
        elif ATTEMPT.search(line):
            parsed.malformed.append(line)
    return parsed


@dataclass
class BuildResult:
    """A build's behaviours (unmerged, one per parsed item) and what it counted."""

    entries: list[Entry]
    problems: int = 0
    replies_without_behaviors: int = 0
    malformed: int = 0
    log: list[dict] = field(default_factory=list)  # per problem: reflection, distillation, malformed lines


def _path_text(tree: SearchTree, node_id: int) -> str:
    return "\n".join(tree.steps_to(node_id)) or "(no step)"


def _dead_ends(tree: SearchTree) -> str:
    leaves = [n for n in tree.nodes if n.dead and not n.children][:DEAD_ENDS]
    lines = [f"- {' -> '.join(tree.steps_to(n.id))} ({n.error or 'wrong answer'})" for n in leaves]
    return "\n".join(lines) or "(none)"


def reflect_prompt(question: str, tree: SearchTree, trace: str) -> str:
    solutions = tree.solutions()
    if solutions:
        outcome, solution = "the path that solved it", "Solution path:\n" + _path_text(tree, solutions[0].id)
    else:
        outcome, solution = "the fact that no solution was found", "No solution was found."
    return REFLECT.format(
        outcome=outcome, question=question, solution=solution, dead_ends=_dead_ends(tree), trace=trace or "(none)"
    )


def _traces(run: RunDir) -> dict[str, str]:
    path = run.traces_dir / f"{TRACE_FORMAT}.jsonl"
    if not path.exists():
        return {}
    return {record["problem_id"]: texts(record)[1] for _, record in read_records(path)}


def _trees(run: RunDir) -> Iterator[SearchTree]:
    latest = {tree.problem_id: tree for tree in run.iter_trees()}  # a retried search's later tree replaces it
    yield from (tree for tree in latest.values() if tree.failed is None)


def build_handbook(
    run_dir: str | Path, generator: TextGenerator, model: str, sampling: Sampling, progress: bool = False
) -> BuildResult:
    """Reflect on every finished tree of a run (one batched generate call), then distil each reflection into
    behaviours (a second one), and parse them into entries tagged with each problem's topic. `progress`: a bar of
    the replies on stderr, its clock kept going while a call runs."""
    run = RunDir(run_dir)
    domain = run.domain()
    traces = _traces(run)
    trees = list(_trees(run))
    questions = [domain.prompt(domain.problem_from_dict(tree.problem)) for tree in trees]
    reflect = [reflect_prompt(q, t, traces.get(t.problem_id, "")) for q, t in zip(questions, trees, strict=True)]
    bar = progress_bar(show=progress, total=2 * len(trees), unit="reply", desc="reflecting")
    with bar, ticking(bar, lambda: f"{len(trees)} prompts per call"):
        reflections = generator.generate(reflect, sampling)
        bar.update(len(trees))
        bar.set_description_str("distilling")
        distil = [DISTIL.format(question=q, reflection=r) for q, r in zip(questions, reflections, strict=True)]
        replies = generator.generate(distil, sampling)
        bar.update(len(trees))
    result = BuildResult(entries=[], problems=len(trees))
    for tree, reflection, reply in zip(trees, reflections, replies, strict=True):
        parsed = parse_behaviors(reply)
        topic = problem_topic(tree.problem, domain.name)
        result.entries += [
            Entry(n, text, [topic], Provenance([tree.problem_id], str(run_dir), model)) for n, text in parsed.items
        ]
        result.replies_without_behaviors += not parsed.items
        result.malformed += len(parsed.malformed)
        result.log.append(
            {
                "problem_id": tree.problem_id,
                "reflection": reflection,
                "distillation": reply,
                "malformed": parsed.malformed,
            }
        )
    return result


def write_log(result: BuildResult, path: Path) -> Path:
    """The build's raw texts, one JSON line per problem, for reading what the model said."""
    return write_atomic(path, b"".join(orjson.dumps(row) + b"\n" for row in result.log))
