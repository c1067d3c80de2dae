"""Read a run's metacot traces as a reader does and count states explored twice and exhausted states stepped from.

    python scripts/count_states.py RUN_DIR [RUN_DIR ...]

Independent of metacot's own audit: the text alone, by its sentences. A state is the multiset of numbers a
"Now I have [...]" names. Counted per run: the steps that reach a multiset the text had already reached ("repeated"),
and the states the text calls exhausted ("Every step I tried from [X] failed ...") and later steps from (a step
written while it stands there, or an attempts line "From [X]: ...") with no stated return ("Back to [X]: there are
steps I have not tried yet.") in between ("stepped after exhausted"); with the run's solve rate (stats.json).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

STATE = r"\[[^\]]*\]"
NOW = re.compile(rf"Now I have (?P<s>{STATE})\.")
STEP = re.compile(r"^\S+ [-+*/] \S+ = \S+\.")
ATTEMPTS = re.compile(rf"^From (?P<s>{STATE}): ")
EXHAUSTED = re.compile(
    rf"(?:None of the steps I tried from|Every step I tried from|I have tried the steps I found from|"
    rf"Nothing I tried from) (?P<s>{STATE})"
)
GO_BACK = re.compile(rf"(?:go back to|return to|pick up again from|Going back to) (?P<s>{STATE})")
RETURN = re.compile(rf"^Back to (?P<s>{STATE}): there are steps I have not tried yet\.")
PROMPT = re.compile(rf"numbers (?P<s>{STATE})")


def multiset(state: str) -> tuple[str, ...]:
    return tuple(sorted(x.strip() for x in state.strip("[]").split(",") if x.strip()))


def read(prompt: str, completion: str) -> tuple[int, set[tuple[str, ...]]]:
    """(steps reaching a multiset reached before, the exhausted states stepped from without a stated return)."""
    root = PROMPT.search(prompt)
    current = multiset(root["s"]) if root else ()
    reached = {current}
    exhausted: set[tuple[str, ...]] = set()
    stepped_after: set[tuple[str, ...]] = set()
    repeated = 0
    for line in completion.split("\n"):
        back = RETURN.match(line)
        if back:
            exhausted.discard(multiset(back["s"]))
            continue
        tried = ATTEMPTS.match(line)
        if tried or STEP.match(line):
            source = multiset(tried["s"]) if tried else current
            if source in exhausted:
                stepped_after.add(source)
        if tried:
            continue
        now = NOW.search(line) if STEP.match(line) else None
        if now:
            current = multiset(now["s"])
            repeated += current in reached
            reached.add(current)
        for said in EXHAUSTED.finditer(line):
            exhausted.add(multiset(said["s"]))
        gone = GO_BACK.search(line)
        if gone:
            current = multiset(gone["s"])
    return repeated, stepped_after


def count(run: Path) -> dict:
    repeated = stepped = records = 0
    for raw in (run / "traces" / "metacot.jsonl").read_text().splitlines():
        record = json.loads(raw)
        text = record.get("completion")
        if text is None:  # the messages layout
            turns = record["messages"]
            prompt, text = turns[0]["content"], turns[-1]["content"]
        else:
            prompt = record["prompt"]
        r, s = read(prompt, text)
        repeated, stepped, records = repeated + r, stepped + len(s), records + 1
    stats = json.loads((run / "stats.json").read_text())
    solved = f"{stats['solved']}/{stats['problems']}"
    return {"run": str(run), "records": records, "repeated": repeated, "stepped_after_exhausted": stepped,
            "solved": solved}


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for run in sys.argv[1:]:
        print(json.dumps(count(Path(run))))


if __name__ == "__main__":
    main()
