"""Reader-level check of a run's traces (metacot, paper, sos), from their text alone and importing nothing of metacot.

    metacot synth --num-problems 150 --seed 4242 --formats metacot,paper,sos --out /tmp/ck-mcts
    python scripts/reader_check.py /tmp/ck-mcts [RUN_DIR ...] [--examples N]

Prints per run and format: records, answers that check out / problems, distinct sentence templates (numbers masked),
boilerplate share (words without a number), completion length, then violation counts by kind (see Walker and
the readers; a state is the multiset of numbers the text says it has), with N quoted examples of each kind.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path

Key = tuple[Fraction, ...]
NUM = r"-?\d+(?:\.\d+)?"
STEP = re.compile(rf"({NUM}) ([-+*/]) ({NUM}) = ({NUM})")
SLIP = re.compile(rf"({NUM}) ([-+*/]) ({NUM}) is ({NUM}), not ({NUM})")
LIST = re.compile(r"\[([^\]]*)\]")
JUMP = re.compile(r"(?:back to|return to|pick up again from) \[([^\]]*)\]")
NOW = re.compile(r"Now I have \[([^\]]*)\]")
LOW = re.compile(r"(?:low|unlikely|promising) \((?:value )?(\d+\.\d+)\)")  # a value called low
EXHAUSTED = re.compile(r"tried[^\[.]*\[([^\]]*)\][^.]*reach")
REASON = re.compile(r"\d\.\d|tried|wrong|earlier|come first|budget|again|explored|is not|cannot be trusted|mistake")
# value comparisons as printed: (pattern, relation between the first and the second printed value)
COMPARISONS = [
    (r"value here is (V), and a step I have not tried also has (V)", "eq"),
    (r"scores (V), as much as this one \((V)\)", "eq"),
    (r"scores (V), and another step scores (V) too", "eq"),
    (r"value here is (V); a step I have not tried yet has (V), lower", "gt"),
    (r"scores (V), more than the (V)", "gt"),
    (r"(?:\(value |This scores )(V)\)?, and the next option scores higher \((V)\)", "lt"),
    (r"only scores (V); something else scores (V)", "lt"),
    (r"(?:\(value |This scores )(V)\)?; another option looks better \((V)\)", "lt"),
    (r"value here is only (V), while another option has (V)", "lt"),
    (r"scores (V); another option scores higher \((V)\)", "lt"),  # a named slip's right version, not taken up
    (r"scores (V); another step scores (V), lower", "gt"),
]
COMPARE = [(re.compile(p.replace("V", r"\d+\.\d+")), rel) for p, rel in COMPARISONS]
KINDS = [
    "concl_no_step", "concl_open_step", "exhausted_restepped", "win_left_unshown", "win_child_left", "repeat_entry",
    "repeat_explored", "slip_renamed", "built_on_wrong", "reasonless_jump", "rounding", "low_at_high_value",
    "unparsed_comparison", "wrong_unnamed", "state_mismatch", "field_vs_jumps", "sos_hidden_win",
    "sos_incomplete_listing", "sos_id_gap", "answer_wrong",
]  # fmt: skip


def key(text: str) -> Key:
    return tuple(sorted(Fraction(x) for x in text.split(",") if x.strip()))


def apply(a: Fraction, sym: str, b: Fraction) -> Fraction | None:
    return (a / b if b else None) if sym == "/" else {"+": a + b, "-": a - b, "*": a * b}[sym]


def after(at: Key, a: Fraction, b: Fraction, c: Fraction) -> Key | None:
    rest = list(at)
    for x in (a, b):
        if x not in rest:
            return None
        rest.remove(x)
    return tuple(sorted([*rest, c]))


def moves(at: Key, sos_only: bool) -> set[Key]:
    """Every result state of one operation on two numbers (sos_only: non-negative whole results, as SoS lists)."""
    out = set()
    for i, a in enumerate(at):
        for j, b in enumerate(at):
            for sym in "+-*/":
                c = apply(a, sym, b) if i != j else None
                if c is not None and not (sos_only and (c < 0 or c.denominator != 1)):
                        out.add(tuple(sorted([*(x for k, x in enumerate(at) if k not in (i, j)), c])))
    return out


@dataclass
class Step:
    at: Key
    a: Fraction
    sym: str
    b: Fraction
    c: Fraction
    line: str
    right: bool  # the arithmetic is exact
    to: Key | None = None
    named: bool = False  # the text called it wrong


class Walker:
    """Follows one record's text: the state it is at, what it has shown, and the violations it commits."""

    def __init__(self, root: Key, target: Fraction, note: Callable[[str, str], None]) -> None:
        self.cur, self.target, self.note, self.jumps = root, target, note, 0
        self.shown: dict[Key, list[Step]] = defaultdict(list)
        self.children: dict[Key, set[Key]] = defaultdict(set)
        self.entered: Counter[Key] = Counter([root])
        self.exhausted: dict[Key, bool] = {}  # called exhausted: False until stepped from again
        self.steps: list[Step] = []
        # tainted: reached through a step the text called wrong; bogus: through wrong arithmetic, called or not
        self.tainted, self.bogus, self.rightly, self.reentered = set[Key](), set[Key](), set[Key](), set[Key]()
        self.slips: set[tuple] = set()

    def failed(self, step: Step) -> bool:
        """Shown to fail: called wrong, a last number that is not the target, or a child called exhausted or
        with every whole-number step from it shown to fail."""
        if step.named or (len(step.at) == 2 and step.c != self.target) or step.to in self.exhausted:
            return True
        below = self.shown.get(step.to, []) if step.to else []
        results = {after(s.at, s.a, s.b, s.c) for s in below if s.right}
        return bool(below) and moves(step.to or (), True) <= results and all(self.failed(s) for s in below)

    def step(self, text: str, line: str, to: Key | None = None, at: Key | None = None) -> Step:
        m = STEP.match(text)
        a, sym, b, c = Fraction(m[1]), m[2], Fraction(m[3]), Fraction(m[4])  # type: ignore[index]
        st = Step(self.cur if at is None else at, a, sym, b, c, line, apply(a, sym, b) == c, to)
        if (child := after(st.at, st.a, st.b, st.c)) is None or to not in (None, child):
            self.note("state_mismatch", line)
        if self.exhausted.get(st.at) is False:
            self.exhausted[st.at] = True
            self.note("exhausted_restepped", line)
        if st.at in self.tainted:
            self.note("built_on_wrong", line)
        if st.at in self.reentered:
            self.reentered.discard(st.at)
            self.note("repeat_explored", line)
        self.shown[st.at].append(st)
        self.steps.append(st)
        if to is not None:
            self.enter(st)
        return st

    def enter(self, st: Step) -> None:
        """Go on from the step's result."""
        at, to = st.at, st.to or ()
        right = st.right and at not in self.bogus  # numbers a wrong result gave are no state: never a repeat
        if right and to in self.rightly and not re.search(r"again|explored|above", st.line):
            self.note("repeat_entry", st.line)
            if self.shown[to]:
                self.reentered.add(to)
        self.entered[to] += 1
        self.children[at].add(to)
        if right:  # numbers ever reached rightly are taken as reached rightly
            self.rightly.add(to)
            self.bogus, self.tainted = self.bogus - {to}, self.tainted - {to}
        elif to not in self.rightly:
            self.bogus.add(to)
            self.tainted.update({to} if at in self.tainted else ())
        self.cur = to

    def slip(self, m: re.Match, line: str) -> None:
        want = (Fraction(m[1]), m[2], Fraction(m[3]), Fraction(m[5]))
        st = next((s for s in reversed(self.steps) if (s.a, s.sym, s.b, s.c) == want), None)
        if st is None:
            return self.note("state_mismatch", line)
        name = (st.at, *want)
        if name in self.slips:
            self.note("slip_renamed", line)
        self.slips.add(name)
        st.named = True
        todo = [st.to] if st.to else []  # only a wrong result the text went on from can be built on
        while todo:
            k = todo.pop()
            if k not in self.tainted and k in self.bogus:  # numbers also reached rightly are not tainted
                self.tainted.add(k)
                todo.extend(self.children[k])

    def conclude(self, at: Key, line: str) -> None:
        if not self.shown[at]:
            self.note("concl_no_step", line)
        elif not all(self.failed(s) for s in self.shown[at]):
            self.note("concl_open_step", line)
        self.exhausted[at] = False

    def leave(self, line: str) -> None:
        here = self.cur
        if here in self.bogus:
            return
        if any(s.right and s.c == self.target and len(s.at) == 2 for s in self.shown[here]):
            self.note("win_child_left", line)
        elif len(here) == 2 and (self.target,) in moves(here, False):
            self.note("win_left_unshown", line)

    def jump(self, to: Key, reason: str | None, line: str) -> None:  # reason None: the format gives none (paper)
        if to != self.cur:
            self.leave(line)
        self.jumps += 1
        if reason is not None and not REASON.search(reason):
            self.note("reasonless_jump", line)
        if to in self.exhausted and re.search(r"again|new step|not tried before", reason or ""):
            self.exhausted[to] = True  # a stated return
        self.cur = to


def check_rounding(w: Walker, line: str) -> None:
    found = [(Fraction(m[1]), Fraction(m[2]), rel) for pat, rel in COMPARE for m in pat.finditer(line)]
    for x, y, rel in found:
        if not {"eq": x == y, "gt": x > y, "lt": x < y}[rel]:
            w.note("rounding", line)
    if any(Fraction(v) >= Fraction(1, 2) for v in LOW.findall(line)):
        w.note("low_at_high_value", line)
    if not found and len(re.findall(r"\d+\.\d\d", line)) >= 2:
        w.note("unparsed_comparison", line)


def read_metacot(w: Walker, lines: list[str]) -> None:
    prev = ""
    for line in lines:
        if m := re.match(r"From \[([^\]]*)\]: (.*)", line):
            if key(m.group(1)) != w.cur:
                w.note("state_mismatch", line)
                w.cur = key(m.group(1))
            for item in m.group(2).split("; "):
                if STEP.match(item):
                    w.step(item, line)
        elif STEP.match(line):
            now = NOW.search(line)
            w.step(line, line, to=key(now[1]) if now else None)
        for s in SLIP.finditer(line):
            w.slip(s, line)
        if e := EXHAUSTED.search(line):
            w.conclude(key(e.group(1)), line)
        check_rounding(w, re.sub(r"\(value \d+\.\d+\)", "", line) if m else line)  # a listed step's value
        if j := JUMP.search(line):
            said = line[: j.start()]
            w.jump(key(j.group(1)), said if "." in said else f"{prev} {said}", line)
        prev = f"{prev} {line}" if m else line  # a listing (a slip's correction alone, say) after a failed step


def read_paper(w: Walker, lines: list[str]) -> None:
    known = [w.cur]
    lines = [x for x in lines if not x.startswith("Value:")]
    for n, line in enumerate(lines):
        if line.startswith("Final Answer"):
            break
        text = line.removeprefix("Alternatively, ")
        if not (m := STEP.match(text)):
            continue
        # a slip's state shows on the next line, where the corrected step says what it leads to
        nxt = lines[n + 1].removeprefix("Alternatively, ") if SLIP.search(text) and n + 1 < len(lines) else text
        fix = STEP.match(nxt)
        if not fix or fix.group(1, 2, 3) != m.group(1, 2, 3):
            nxt, fix = text, m
        now = NOW.search(nxt)
        a, b, c = (Fraction(fix.group(i)) for i in (1, 3, 4))
        fits = [k for k in reversed(known) if after(k, a, b, c) and (not now or after(k, a, b, c) == key(now.group(1)))]
        at = w.cur if w.cur in fits or not fits else fits[0]
        if text != line:  # "Alternatively": the layout's one jump marker; it states no reasons
            w.jump(at, None, line)
        elif at != w.cur:
            w.note("state_mismatch", line)
        w.step(text, line, to=key(now.group(1)) if now and nxt is text else None, at=at)
        known.append(w.cur)
        for s in SLIP.finditer(text):
            w.slip(s, line)


def read_sos(w: Walker, lines: list[str]) -> None:
    node, expanded, ids = "0", dict[Key, str](), defaultdict[str, set[int]](set)
    listing: list[str] = []

    def close() -> None:  # SoS lists every operation with a whole non-negative result, up to a goal
        listed = {after(w.cur, s.a, s.b, s.c) for s in w.shown[w.cur] if s.right}
        missing = moves(w.cur, True) - listed if listing else set()
        if (w.target,) in missing:
            w.note("sos_hidden_win", listing[0])
        if missing and (w.target,) not in listed:
            w.note("sos_incomplete_listing", listing[0])
        listing.clear()

    for line in lines:
        if m := re.match(r"Current State: [^:]*:\[([^\]]*)\]", line):
            close()
            w.cur = key(m.group(1))
            if expanded.setdefault(w.cur, node) != node:
                w.note("repeat_explored", line)
        elif m := re.match(rf"Exploring Operation: ({NUM})([-+*/])({NUM})=({NUM}), Resulting Numbers: \[(.*)\]", line):
            w.step(f"{m[1]} {m[2]} {m[3]} = {m[4]}", line).to = key(m[5])
            listing.append(line)
        elif m := re.match(r"Generated Node #([\d,]+),(\d+)", line):
            ids[m[1]].add(int(m[2]))
        elif m := re.match(r"Moving to Node #([\d,]+)", line):
            close()
            if m.group(1).rpartition(",")[0] != node:
                w.leave(line)
                w.jumps += 1
            node = m.group(1)
    close()
    for parent, got in ids.items():
        if got != set(range(len(got))):
            w.note("sos_id_gap", f"node #{parent}: children {sorted(got)}")


READERS = {"metacot": read_metacot, "paper": read_paper, "sos": read_sos}


OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def evaluate(expr: str) -> tuple[Fraction, Key] | None:
    """The value of an answer and the numbers it uses: parsed (numbers, + - * /, parentheses), never run."""
    used: list[Fraction] = []

    def value(n: ast.expr) -> Fraction:
        if isinstance(n, ast.BinOp) and type(n.op) in OPS:
            got = apply(value(n.left), OPS[type(n.op)], value(n.right))
            if got is not None:
                return got
        if isinstance(n, ast.Constant) and type(n.value) is int:
            used.append(Fraction(n.value))
            return Fraction(n.value)
        raise ValueError(ast.dump(n))

    try:
        return value(ast.parse(expr.strip(), mode="eval").body), tuple(sorted(used))
    except (SyntaxError, ValueError):
        return None


def check_record(rec: dict, note: Callable[[str, str], None]) -> bool:
    m = re.search(r"numbers \[([^\]]*)\], create an equation that equals (-?\d+)", rec["prompt"])
    root, target = key(m.group(1)), Fraction(m.group(2))  # type: ignore[union-attr]
    text = rec["completion"]
    w = Walker(root, target, note)
    think = text.split("<think>")[-1].split("</think>")[0]
    READERS[rec["format"]](w, [x.strip() for x in think.splitlines() if x.strip()])
    for st in w.steps:
        if not st.right and not st.named:
            note("wrong_unnamed", st.line)
    ans = re.search(r"<answer>(.*?)</answer>", text, re.S)
    solved = (evaluate(ans.group(1)) if ans else None) == (target, root)
    if not solved:
        note("answer_wrong", ans.group(0) if ans else text[-80:])
    if rec.get("num_backtracks") != w.jumps:
        note("field_vs_jumps", f"num_backtracks={rec.get('num_backtracks')} jumps in text={w.jumps}")
    return solved


def quality(texts: list[str]) -> str:
    templates, words, plain = set[str](), 0, 0
    for t in texts:
        for line in t.splitlines():
            if line.startswith("<answer>"):
                continue
            masked = re.sub(r"\d+(?:\.\d+)?", "N", LIST.sub("[L]", line))
            templates.update(s for s in re.split(r"(?<=[.;:])\s+", masked) if s)
            toks = line.split()
            words += len(toks)
            plain += sum(1 for x in toks if not re.search(r"\d|^[-+*/=]$|^<", x))
    sizes = sorted(len(t) for t in texts) or [0]
    p90 = sizes[min(len(sizes) - 1, int(0.9 * len(sizes)))]
    return (f"templates {len(templates)}, boilerplate {plain / max(words, 1):.0%}, "
            f"chars p50/p90/max {int(statistics.median(sizes))}/{p90}/{sizes[-1]}")


def tally(counts: Counter, examples: dict, show: int, pid: str, kind: str, where: str) -> None:
    counts[kind] += 1
    if len(examples[kind]) < show:
        examples[kind].append(f"{pid}: {where[:300]}")


def check_run(run: Path, show: int) -> None:
    stats = run / "stats.json"
    problems = json.loads(stats.read_text())["problems"] if stats.exists() else "?"
    for path in sorted((run / "traces").glob("*.jsonl")):
        counts, examples, solved, texts = Counter[str](), defaultdict[str, list[str]](list), 0, []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            rec = json.loads(line)
            if rec.get("format") not in READERS:
                break
            solved += check_record(rec, partial(tally, counts, examples, show, rec.get("problem_id", f"line {n}")))
            texts.append(rec["completion"])
        if not texts:
            continue
        print(f"== {run} {path.stem}: records {len(texts)}, solved {solved}/{problems}, {quality(texts)}")
        print("   " + (", ".join(f"{k} {counts[k]}" for k in KINDS if counts[k]) or "no violations"))
        for kind, quotes in examples.items():
            for quote in quotes:
                print(f"   [{kind}] {quote}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run directories (with traces/*.jsonl)")
    ap.add_argument("--examples", type=int, default=0, help="quoted examples per kind")
    args = ap.parse_args()
    for run in args.runs:
        check_run(run, args.examples)


if __name__ == "__main__":
    main()
