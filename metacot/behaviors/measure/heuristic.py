"""An approximate behaviour tagger for any text: phrase and arithmetic patterns, sentence by sentence, no model.

It reads the paper's Countdown style ("56 is not 24. Let me try a different combination.") and metacot's own
formats (verdicts, "Going back to [..]", `<verify>`/`<backtrack>` tokens, the stream-of-search log). It is a
heuristic: phrasings it has no pattern for are missed, and a pattern can fire on a sentence that does not mean it.
For metacot's own records the structural tagger is exact; for foreign text with a judge model at hand, use `llm`.

Counting: the text is cut into sentences (and lines); each behaviour counts its instances, where an instance is a
sentence that shows it, joined with the next one when that only completes it (an announcement without arithmetic
followed by its content, "Let me check: ... = 36. Correct!"). Every pattern is linear in the text's length: bounded
repetitions only, whitespace collapsed first, so untrusted text cannot make it backtrack catastrophically.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from metacot.behaviors.definitions import BACKTRACKING, BACKWARD_CHAINING, BEHAVIORS, SUBGOAL_SETTING, VERIFICATION
from metacot.behaviors.measure.base import BehaviorCounts
from metacot.linearize.layout import completion_of, prompt_of

N = r"-?\d{1,12}"  # a number as the patterns read it (bounded: no runaway digit runs)
OP = r"[-+*/×÷x]"
FLAGS = re.IGNORECASE

SENTENCE_BREAK = re.compile(r"\n+|(?<=[.!?])[ \t]+")

# An explicit comparison of a result with the target or a condition.
VERIFY = re.compile(
    "|".join(
        (
            rf"\b(?:is|was|are|it's|that's|gives|makes|equals)\snot\s(?:equal\sto\s|the\ssame\sas\s)?(?:the\starget|{N}\b)",
            rf"\b(?:isn't|doesn't\sequal|does\snot\sequal)\s(?:equal\sto\s)?(?:the\starget|{N}\b)",
            rf",\snot\s{N}\b",
            rf"(?:≠|!=)\s?{N}",
            rf"\b(?:cannot|can't|can\snot|does\snot|doesn't|did\snot|didn't)\s(?:make|reach|give|get\sto|equal|match)\s"
            rf"(?:the\starget|{N}\b)",
            rf"(?<![-+*/×÷x)]\s)(?<![-+*/×÷x)])\b(\d{{1,12}})\s?=\s?\1\b(?!\s?{OP})",  # "14 = 14", not "1 * 1 = 1"
            r"\b(?:equals?|reach(?:es|ed)?|match(?:es)?|hits?|is|gives|that's|it's)\s(?:exactly\s)?(?:the|our)\s"
            r"(?:target|goal)\b",
            rf"\bexactly\s(?:the\starget|{N}\b)|\b\d{{1,12}},\sthe\starget\b",
            r"\bcorrect\b\s?(?:[.!)]|$)",
            r"\b(?:that|this|it)\sworks\b",
            r"\bas\srequired\b",
            r"\btoo\s(?:high|low|big|small|large|much|little)\b",
            rf"\b(?:short\sof|far\s(?:below|above|from)|away\sfrom|more\sthan|less\sthan|greater\sthan|smaller\sthan|"
            rf"larger\sthan|bigger\sthan|higher\sthan|lower\sthan)\s(?:the\starget|{N}\b)",
            r"\b(?:let\sme|let's|let\sus|i'll|i\swill|i\sshould|we\scan)\s(?:double[- ]?)?(?:check|verify|confirm)"
            r"(?:\s(?:that|if|whether|it|this|again|the\s(?:result|answer|sum|total|equation|calculation|arithmetic))|:)",
            r"\bdouble[- ]check|\bverif(?:y|ied|ying|ication)\b|\bchecking\sthe\ssteps\b",
            r"\b\d{1,12},\d{1,12}\s(?:un)?equal\b",  # the stream-of-search goal check
            r"^<verify>",
        )
    ),
    FLAGS,
)
# A failed check or an abandoned path: what makes the next plain attempt ("Let me try ...") a backtrack.
FAILED = re.compile(
    r"\bnot\b|n't\b|\btoo\b|\bless\b|\bmore\b|\bshort\b|\bcannot\b|\bfail|\bwrong\b|\bbelow\b|\babove\b|\bdead\send\b",
    FLAGS,
)
# Leaving a path for one that does not build on it.
BACKTRACK = re.compile(
    "|".join(
        (
            r"\b(?:go|going|went|get|getting)\sback\b",
            r"\breturn(?:ing)?\sto\b",
            r"\bpick\sup\sagain\b",
            r"\b(?:try|trying|tried|attempt|look\sat|consider|check)\s(?:a\s|an\s)?(?:different|another|other|new|"
            r"alternative)\b",
            r"\btry\s(?:something\selse|(?:it\s)?again)\b",
            r"\bstart\s(?:over|again|from\sscratch)\b",
            r"\bscratch\sthat\b|\balternatively\b|\binstead\b|\bback\s?track|\ban\salternative\b",
            r"\banother\s(?:approach|way|combination|option|path|idea|strategy|sequence|branch|possibility)\b",
            r"^<backtrack\b",
        )
    ),
    FLAGS,
)
NEW_ATTEMPT = re.compile(
    r"^(?:(?:hmm|ok|okay|so|now|well|then),?\s)?(?:let\sme\stry|let's\stry|let\sus\stry|i'll\stry|maybe|perhaps|"
    r"what\sabout|how\sabout|what\sif)\b",
    FLAGS,
)
# A stated intermediate goal: the number it names (group "goal") must not be the target, unless it is "close to" it.
SUBGOAL = re.compile(
    "|".join(
        (
            rf"\b(?:first|next|then|now),?\s(?:i'll\s|i\swill\s|let's\s|let\sme\s|we\s|i\s)?(?:try\sto\s|want\sto\s|"
            rf"need\sto\s|aim\sto\s)?(?:get|make|reach|find|obtain|create|form)\s(?:to\s)?(?P<g1>{N}\b)",
            rf"\b(?:i|we)\s(?:need|want|have)\sto\s(?:get|make|reach|find|obtain|create|form)\s(?:to\s)?(?P<g2>{N}\b)",
            rf"\b(?:if|once)\s(?:i|we)\s(?:can\s)?(?:get|make|reach|have|find|obtain|form)\s(?:to\s)?(?:a\s)?"
            rf"(?P<g3>{N}\b)",
            rf"\b(?:need|needs|must)\b.{{0,40}}?\bto\s(?:make|get|reach|equal|give)\s(?P<g4>{N}\b)",
            r"\bsub-?goal|\bintermediate\s(?:goal|target|result)|\baim\sfor\b|\bgoal\sis\sto\s(?:get|make|reach)\b",
            r"\b(?:get|getting|come|coming)\s(?:close|closer|near)\sto\b",
        )
    ),
    FLAGS,
)
NEED = re.compile(r"\b(?:need|needs|must|have\sto|requires?|remains?)\b", FLAGS)
WORK_BACK = re.compile(r"\bwork(?:ing|ed)?\sbackwards?\b|\bbackwards?\sfrom\b|\bfrom\sthe\starget\b", FLAGS)
DERIVE_ANY = re.compile(rf"\b{N}\s?{OP}\s?{N}\s?=\s?{N},?\s(?:so|then)\s(?:i|we)\s(?:need|must|have\sto)\b", FLAGS)
MOVE_TO = re.compile(r"^Moving to Node #([\d,]{1,200})$")

TARGET_IN_PROMPT = re.compile(rf"\b(?:equals?|target(?:\snumber)?(?:\sis)?|reach)\s?:?\s({N})\b", FLAGS)
SOS_TARGET = re.compile(rf"Current State: ({N}):")


def _backward_pattern(target: int | None) -> re.Pattern[str]:
    """Working back from the target: "24 / 8 = 3, so I need 3", "47 = 61 - 14", "to reach 47 ... I need"."""
    goal = r"the\starget" if target is None else rf"(?:the\starget|{target}\b)"
    parts = [rf"\bto\s(?:reach|get|make|obtain|hit)\s{goal}.{{0,80}}?\b(?:need|must|could|can|have\sto)\b"]
    if target is not None:
        parts.append(rf"(?<![\d.]){target}\s?(?:{OP}\s?\d|=\s?\d{{1,12}}\s?{OP})")
    return re.compile("|".join(parts), FLAGS)


def sentences(text: str) -> list[str]:
    """The text's sentences and lines, whitespace collapsed (which keeps every pattern's runs short)."""
    out = []
    for part in SENTENCE_BREAK.split(text):
        words = " ".join(part.split())
        if words:
            out.append(words)
    return out


def find_target(record: dict) -> int | None:
    """The problem's target: a `target` field, the prompt's "equals N" (or the chat's user turn), a
    stream-of-search state."""
    target = record.get("target")
    if type(target) is int:
        return target
    for text in (prompt_of(record), completion_of(record)):
        if isinstance(text, str):
            found = TARGET_IN_PROMPT.search(text[:2000]) or SOS_TARGET.search(text[:2000])
            if found:
                return int(found.group(1))
    return None


def _subgoal(sentence: str, target: int | None) -> bool:
    for match in SUBGOAL.finditer(sentence):
        goal = next((g for g in match.groups() if g is not None), None)
        if goal is None or target is None or int(goal) != target:
            return True
    return False


def _backward(sentence: str, target: int | None, pattern: re.Pattern[str]) -> bool:
    """Working back from the target; without a known target, any derivation "a op b = c, so I need"."""
    if WORK_BACK.search(sentence) or (target is None and DERIVE_ANY.search(sentence)):
        return True
    return bool(pattern.search(sentence)) and bool(NEED.search(sentence))


def _shows(sentence: str, target: int | None, backward: re.Pattern[str]) -> set[str]:
    found = set()
    if VERIFY.search(sentence):
        found.add(VERIFICATION)
    if BACKTRACK.search(sentence):
        found.add(BACKTRACKING)
    if _backward(sentence, target, backward):
        found.add(BACKWARD_CHAINING)
    elif _subgoal(sentence, target):
        found.add(SUBGOAL_SETTING)
    return found


def _announces(previous: str, current: str) -> bool:
    """The previous sentence only announces what the current one does (it has no arithmetic of its own)."""
    return "=" not in previous


def _verdict_of(previous: str, current: str) -> bool:
    """The current sentence only states the verdict of the previous check ("Correct!")."""
    return not any(c.isdigit() for c in current)


CONTINUES: dict[str, Callable[[str, str], bool]] = {
    VERIFICATION: _verdict_of,
    BACKTRACKING: _announces,
    SUBGOAL_SETTING: _announces,
    BACKWARD_CHAINING: _announces,
}


def count_behaviors(text: str, target: int | None = None) -> dict[str, int]:
    """Instances of each behaviour in one completion."""
    parts = sentences(text)
    backward = _backward_pattern(target)
    shown = [_shows(s, target, backward) for s in parts]
    for i in range(1, len(parts)):  # a plain new attempt right after a failure leaves the failed path
        if NEW_ATTEMPT.search(parts[i]) and _failed(parts[i - 1], shown[i - 1]):
            shown[i].add(BACKTRACKING)
    counts = dict.fromkeys(BEHAVIORS, 0)
    for i, found in enumerate(shown):
        for name in found:
            if i and name in shown[i - 1] and CONTINUES[name](parts[i - 1], parts[i]):
                continue
            counts[name] += 1
    counts[BACKTRACKING] += _sos_backtracks(parts)
    return counts


def _failed(sentence: str, found: set[str]) -> bool:
    return bool(FAILED.search(sentence)) and (VERIFICATION in found or "work" in sentence.lower())


def _sos_backtracks(parts: list[str]) -> int:
    """Moves in a stream-of-search log to a node that is not below the current one."""
    at, count = "0", 0
    for part in parts:
        move = MOVE_TO.match(part)
        if move:
            node = move.group(1)
            count += not node.startswith(at + ",")
            at = node
    return count


class HeuristicTagger:
    """Counts behaviours with phrase and arithmetic patterns (approximate; see the module's docstring)."""

    name = "heuristic"

    def tag(self, records: list[dict]) -> list[BehaviorCounts]:
        return [
            BehaviorCounts(dict(count_behaviors(completion_of(record) or "", find_target(record))))
            for record in records
        ]
