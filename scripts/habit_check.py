"""Independent check of priming records (`metacot prime`) for the habits in substance, from the text alone.

Standalone: imports nothing from metacot. For each record it takes the numbers and target from the prompt, replays
the completion's lines and checks, per issue #29's rules:
- subgoals pursued: after "First I'll try to get N ...", a step "... = N" comes before the next go-back;
- backward chains: after "Working backwards, T = A op B, so I need X from [...]", a step making X comes before the
  next go-back (pursued), and a step making T after it (completed); or, before the next step or go-back, a line
  "Can P and Q make X? ..." rules it out: [P, Q] are the numbers the chain names, every step the line lists is true,
  they make every value one operation on P and Q makes, and none of them is X (ruled out); a chain neither pursued
  nor ruled out is dropped;
- win skips: the text reaches two numbers that make the target in one operation and never writes a step from
  those two numbers that does;
- answers: the <answer> expression uses each number once and makes the target with exact arithmetic (parsed with
  ast, never evaluated as code).

    python -m metacot.cli synth --num-problems 150 --seed 5151 --out /tmp/hc
    python -m metacot.cli prime /tmp/hc --variant all
    python scripts/habit_check.py /tmp/hc/prime/*.jsonl
"""

from __future__ import annotations

import ast
import json
import operator
import re
import sys
from fractions import Fraction
from pathlib import Path

OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
STEP = re.compile(r"^(-?[\d/()]+) ([-+*/]) (-?[\d/()]+) = (-?[\d/]+)")
STATE = re.compile(r"Now I have \[([^\]]*)\]")
SUBGOAL = re.compile(r"First I'll try to get (-?[\d/]+)")
CHAIN = re.compile(r"Working backwards, (-?\d+) = .*?, so I need (-?[\d/]+) from \[([^\]]*)\]")
TRIES = re.compile(r"^Can (-?[\d/]+) and (-?[\d/]+) make (-?[\d/]+)\? (.*)\. None of them is (-?[\d/]+), ")
LISTED = re.compile(r"(-?[\d/]+) ([-+*/]) (-?[\d/]+) = (-?[\d/]+)")
GO_BACK = re.compile(r"(go back|pick up again|return to|Going back)", re.IGNORECASE)


def number(text: str) -> Fraction:
    return Fraction(text.strip("()"))


def evaluate(node: ast.AST, used: list[Fraction]) -> Fraction:
    if isinstance(node, ast.Expression):
        return evaluate(node.body, used)
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        used.append(Fraction(node.value))
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in OPS:
        left, right = evaluate(node.left, used), evaluate(node.right, used)
        return OPS[type(node.op)](left, right)
    raise ValueError(f"not arithmetic: {ast.dump(node)}")


def answer_right(answer: str, numbers: list[int], target: int) -> bool:
    used: list[Fraction] = []
    try:
        value = evaluate(ast.parse(answer, mode="eval"), used)
    except (ValueError, SyntaxError, ZeroDivisionError):
        return False
    return value == target and sorted(used) == sorted(map(Fraction, numbers))


def one_move(a: Fraction, b: Fraction) -> set[Fraction]:
    made = {a + b, a - b, b - a, a * b}
    made |= {a / b} if b else set()
    made |= {b / a} if a else set()
    return made


def arithmetic(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    if op == "/":
        return a / b if b else None
    return {"+": a + b, "-": a - b, "*": a * b}[op]


def rules_out(match: re.Match, needed: Fraction, rest: list[Fraction]) -> bool:
    """A "Can P and Q make X? ..." line that truly rules out making `needed` from `rest` in one step."""
    p, q, x, listed, none_is = match.groups()
    if sorted((number(p), number(q))) != sorted(rest) or number(x) != needed or number(none_is) != needed:
        return False
    results = set()
    for m in LISTED.finditer(listed):
        a, b, value = number(m.group(1)), number(m.group(3)), number(m.group(4))
        if sorted((a, b)) != sorted(rest) or arithmetic(a, m.group(2), b) != value:
            return False
        results.add(value)
    return results == one_move(*rest) and needed not in results


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"no {pattern!r} in the prompt: {text[:80]!r}")
    return match.group(1)


def check(record: dict) -> dict:
    prompt = record.get("prompt") or record["messages"][0]["content"]
    completion = record.get("completion") or record["messages"][-1]["content"]
    numbers = [int(x) for x in found(r"numbers \[([^\]]*)\]", prompt).split(",")]
    target = int(found(r"equals (-?\d+)", prompt))
    lines = completion.split("\n")
    out = {"subgoals": 0, "pursued": 0, "win_skips": 0}
    open_subgoals: list[Fraction] = []
    chains: list[dict] = []  # each: needed number, the numbers named, and made / completed / ruled out
    open_chains: list[dict] = []  # those of the path the text is on
    last_chain: dict | None = None  # the chain a next line may rule out
    pairs_seen: list[tuple[Fraction, Fraction]] = []
    steps_from: set[tuple[Fraction, Fraction, Fraction]] = set()
    for line in lines:
        if GO_BACK.search(line):
            open_subgoals, open_chains, last_chain = [], [], None
        tries = TRIES.match(line)
        if tries and last_chain is not None and rules_out(tries, last_chain["need"], last_chain["rest"]):
            last_chain["out"] = True
            last_chain = None
        for match in SUBGOAL.finditer(line):
            out["subgoals"] += 1
            open_subgoals.append(number(match.group(1)))
        for match in CHAIN.finditer(line):
            rest = [number(x) for x in match.group(3).split(",")]
            last_chain = {"need": number(match.group(2)), "rest": rest, "made": False, "done": False, "out": False}
            chains.append(last_chain)
            open_chains.append(last_chain)
        step = STEP.match(line)
        if step:
            last_chain = None
            a, b, result = number(step.group(1)), number(step.group(3)), number(step.group(4))
            steps_from.add((min(a, b), max(a, b), result))
            if result in open_subgoals:
                out["pursued"] += 1
                open_subgoals.remove(result)
            for chain in open_chains:
                chain["done"] |= chain["made"] and result == target
                chain["made"] |= result == chain["need"]
        state = STATE.search(line)
        if state:
            values = [number(x) for x in state.group(1).split(",")]
            if len(values) == 2:
                pairs_seen.append((min(values), max(values)))
    out["chains"] = len(chains)
    out["chain_pursued"] = sum(c["made"] for c in chains)
    out["chain_completed"] = sum(c["done"] for c in chains)
    out["ruled_out"] = sum(c["out"] for c in chains)
    out["dropped"] = sum(not (c["made"] or c["out"]) for c in chains)
    for a, b in set(pairs_seen):
        if target in one_move(a, b) and (a, b, Fraction(target)) not in steps_from:
            out["win_skips"] += 1
    answer = re.search(r"<answer>(.*?)</answer>", completion, re.DOTALL)
    out["right"] = answer is not None and answer_right(answer.group(1).strip(), numbers, target)
    return out


def main(paths: list[str]) -> int:
    head = "| variant | records | right | subgoals pursued | chains pursued | chains completed | chains ruled out |"
    print(head + " chains dropped | win skipped |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in paths:
        checked = [check(json.loads(line)) for line in Path(path).read_text().splitlines() if line.strip()]
        total = {key: sum(c[key] for c in checked) for key in checked[0]}
        skips = sum(c["win_skips"] > 0 for c in checked)

        def share(part: str, whole: str, t: dict = total) -> str:
            return f"{t[part]}/{t[whole]}" if t[whole] else "-"

        row = [Path(path).stem, len(checked), f"{total['right']}/{len(checked)}", share("pursued", "subgoals")]
        row += [share("chain_pursued", "chains"), share("chain_completed", "chains"), share("ruled_out", "chains")]
        row += [share("dropped", "chains"), skips]
        print("| " + " | ".join(map(str, row)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
