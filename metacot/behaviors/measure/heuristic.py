"""An approximate behaviour tagger for any text: phrase and arithmetic patterns, sentence by sentence, no model.

It reads the paper's Countdown style ("56 is not 24. Let me try a different combination.") and metacot's own
formats (verdicts, "Going back to [..]", `<verify>`/`<backtrack>` tokens, the stream-of-search log). It is a
heuristic: phrasings it has no pattern for are missed, and a pattern can fire on a sentence that does not mean it.
For metacot's own records the structural tagger is exact; for foreign text with a judge model at hand, use `llm`.

Counting: the text is cut into sentences (and lines); each behaviour counts its instances, where an instance is a
sentence that shows it, joined with the next one when that only completes it (an announcement without arithmetic
followed by its content, "Let me check: ... = 36. Correct!"). A backtrack is strict when its sentence or the one
before says the path fails (a failed check, "None of the steps ... reach", "That plan doesn't pan out"); a sos
return, when the listing it leaves ended every operation in a failed goal check. Every pattern is linear in the
text's length: bounded repetitions only, whitespace collapsed first, so untrusted text cannot make it backtrack
catastrophically.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from metacot.behaviors.definitions import BACKTRACKING, BACKWARD_CHAINING, SUBGOAL_SETTING, VERIFICATION
from metacot.behaviors.measure.base import COLUMNS, STRICT_BACKTRACKING, BehaviorCounts
from metacot.linearize.layout import completion_of, prompt_of

N = r"-?\d{1,12}"  # a number as the patterns read it (bounded: no runaway digit runs)
OP = r"[-+*/×÷x]"
FLAGS = re.IGNORECASE

SENTENCE_BREAK = re.compile(r"\n+|(?<=[.!?])[ \t]+")

WORD_NUMBER = r"(?:one|two|three|four|five|a\sfew|\d{1,12})"
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
            rf"\bexactly\s(?:the\starget|{N}\b)|\b\d{{1,12}},\sthe\starget\b|\b\d{{1,12}}\sexactly\b|\bon\starget\b",
            r"\bcorrect\b\s?(?:[.!)]|$)",
            r"\b(?:that|this|it)\sworks\b",
            r"\bas\srequired\b",
            r"\btoo\s(?:high|low|big|small|large|much|little|many|few)\b",
            rf"\b(?:short\sof|far\s(?:below|above|from)|away\sfrom|more\sthan|less\sthan|greater\sthan|smaller\sthan|"
            rf"larger\sthan|bigger\sthan|higher\sthan|lower\sthan|half\sof|double)\s(?:the\starget|{N}\b)",
            r"\b(?:let\sme|let's|let\sus|i'll|i\swill|i\sshould|we\scan)\s(?:double[- ]?)?(?:check|verify|confirm)"
            r"(?:\s(?:that|if|whether|it|this|again|the\s(?:result|answer|sum|total|equation|calculation|arithmetic))|:)",
            r"\bdouble[- ]check|\bverif(?:y|ied|ying|ication)\b|\bchecking\sthe\ssteps\b|[✓✔]",
            r"^(?:quick\s|final\s|sanity\s)?(?:check|confirm|confirming)\b",
            r"\b\d{1,12},\d{1,12}\s(?:un)?equal\b",  # the stream-of-search goal check
            r"^<verify>",
            # a verdict of its own: "No.", "Not 16.", "Close.", "Yes, 26."
            rf"^(?:no|nope|not\s(?:quite|it|right|enough|equal|{N})|close|closer|almost|off|wrong|invalid|yes|bingo)\b"
            r"(?:[,.!;:]|\s|$)",
            r",\s(?:no|nope|wrong)\s?[.!]?$",
            # how far off: "one short", "off by two", "just under", "overshoots"
            rf"\b{WORD_NUMBER}\s(?:short|off|over|under|too\s(?:many|few))\b|\b(?:off|over|short|under)\sby\s{WORD_NUMBER}\b",
            r"\b(?:just|way|slightly|a\sbit|far)\s(?:under|over|off|short|below|above)\b|\b(?:over|under)shoots?\b",
            r"\b(?:less|more|fewer)\sthan\s(?:needed|required|i\sneed)\b|\bclose,?\sbut\b",
            # the rules of the problem: every number once
            r"\b(?:not\sallowed|invalid|breaks?\sthe\srules?|unused|left\sover|leftover|spare|used\stwice|already\sused)\b",
            r"\b(?:is|are)\s(?:still\s)?left\b|\bonly\s(?:have\s)?one\s\d{1,12}\b|\bneeds?\stwo\s\d{1,12}s\b",
            r"\b(?:leaves?|leaving)\s(?:a\snumber|\d{1,12}|one)\s(?:over|unused|out)\b",
        )
    ),
    FLAGS,
)
# A failed check or an abandoned path: what makes the next plain attempt ("Let me try ...") a backtrack.
FAILED = re.compile(
    r"\bnot\b|n't\b|\btoo\b|\bless\b|\bmore\b|\bshort\b|\bcannot\b|\bfail|\bwrong\b|\bbelow\b|\babove\b|\bdead\send\b|"
    r"^no\b|\bnope\b|\boff\b|\bover\b|\bunder\b|\binvalid\b|\bunused\b|\bleft\b|\bspare\b|\btwice\b|\bonly\sone\b|"
    r"\bclose\b|\balmost\b|\bhalf\b|\bshoots?\b|\bno\b",
    FLAGS,
)
# What says the path is left because it does not work (the strict reading of a backtrack), beside a failed check.
REALISED = re.compile(
    r"\bnone\sof\b|\bevery\s(?:step|option|operation)\b.{0,40}\bfail|\bnothing\s(?:i\s)?tried\b|\bdead\send\b|"
    r"\b(?:does\snot|doesn't|did\snot|didn't|won't|will\snot|cannot|can't)\s(?:work|pan\sout|help)\b|\bfails\b|"
    r"\bstuck\b|\bno\s(?:good|luck)\b|\bimpossible\b|\bnot\spossible\b|\bmistake\b|\berror\b|\bwent\swrong\b|"
    r"\bwas\swrong\b|\bgive\sup\b|\bright\sversion\b",  # "its right version": the step was wrong
    FLAGS,
)
# A sentence that writes a wrong step's correction: its arithmetic is the repair, not a step of the backtrack.
CORRECTION = re.compile(r"\b(?:right|correct|corrected)\s(?:version|step|result)\b", FLAGS)
TOKEN_REALISED = re.compile(r"\breason=(?:exhausted|mistake)\b")
TOKEN_BACKTRACK = re.compile(r"^<backtrack\b")  # the tokens format's: its reason is an attribute
# Leaving a path for one that does not build on it.
BACKTRACK = re.compile(
    "|".join(
        (
            r"\b(?:go|going|went|get|getting|come|coming)\sback\b",
            r"\breturn(?:ing)?\sto\b",
            r"\bpick\sup\sagain\b",
            r"\b(?:try|trying|tried|attempt|look\sat|consider|check)\s(?:yet\s)?(?:a\s|an\s)?(?:different|another|other|"
            r"new|alternative)\b",
            r"\btry\s(?:something\selse|(?:it\s)?again)\b",
            r"\bstart\s(?:over|again|from\sscratch)\b|\b(?:rethink|reconsider|restart)\b",
            r"\bscratch\sthat\b|\balternatively\b|\binstead\b|\bback\s?track|\ban\salternative\b",
            r"\banother\s(?:approach|way|combination|option|path|idea|strategy|sequence|branch|possibility|route)\b",
            r"\bback\s(?:up|to\s(?:the\s)?(?:start|beginning|top|square\sone|drawing\sboard|first))\b",
            r"\b(?:abandon|scrap|ditch|drop)\s(?:that|this|it|the)\b|\bswitch(?:ing)?\s(?:to|approach|tactics)\b|^switch\b",
            r"\b(?:new|different|other|fresh|second|third|final|last)\s(?:plan|idea|approach|route|attempt|tack|try|"
            r"angle|grouping)\b|\bother\sway\s(?:round|around)\b",
            r"\bchange\sof\s(?:approach|plan|tack|strategy)\b|\bone\smore\s(?:attempt|try|idea)\b",
            TOKEN_BACKTRACK.pattern,
        )
    ),
    FLAGS,
)
NEW_ATTEMPT = re.compile(
    r"^(?:(?:hmm|ok|okay|so|now|well|then|argh|damn|oh),?\s)?(?:let\sme\stry|let's\stry|let\sus\stry|i'll\stry|try|"
    r"maybe|perhaps|what\sabout|how\sabout|what\sif)\b",
    FLAGS,
)
# A fresh computation ("So 3 * 8 ..." goes on): its first operation, which a correction repeats from the check before.
FRESH = re.compile(rf"^(?:(?:hmm|ok|okay|well|argh|damn|oh),?\s)?\(?({N}\s?{OP}\s?{N})", FLAGS)
VERB = r"(?:get|make|reach|find|obtain|create|form|build|produce|put\stogether)"
# A stated intermediate goal: the number it names (group "g…") must not be the target, unless it is "close to" it.
GOAL = re.compile(
    "|".join(
        (
            rf"\b(?:first|next|then|now),?\s(?:i'll\s|i\swill\s|let's\s|let\sme\s|we\s|i\s)?(?:try\sto\s|want\sto\s|"
            rf"need\sto\s|aim\sto\s)?{VERB}\s(?:to\s)?(?:an?\s)?(?P<g1>{N}\b)",
            rf"\b(?:i|we)(?:'d|\swould)?\s(?:want|like)\s(?:to\s{VERB}\s|to\shave\s)?(?:an?\s)?(?P<g2>{N}\b)",
            rf"\b(?:try|trying)\sto\s{VERB}\s(?:an?\s)?(?P<g3>{N}\b)",
            rf"\b{VERB}\s(?:to\s)?(?:an?\s)?(?P<g4>{N})\s(?:first|at\sthe\send)\b",
            rf"\b(?:combine|turn|merge|fold)\b.{{0,30}}?\binto\s(?:an?\s)?(?P<g5>{N}\b)",
            rf"\b(?:aim|shoot|head)(?:ing)?\sfor\s(?:an?\s)?(?P<g6>{N}\b)?",
            r"\b(?:goal|aim|plan|task|job|objective)\b.{0,20}?(?:\bis|\bbe|:)\s(?:to\s)?(?:\w+\s)?"
            r"(?:get|make|reach|form|build|produce|obtain|create|turn|find)\b",
            r"\breduces?\sto\s(?:making|getting|forming|finding|building)\b|\bstep\s(?:one|1)\s?:",
            r"\bsub-?goal|\bsub-?target|\bintermediate\b|\bmilestone\b|\bstepping[- ]stone\b",
            r"\b(?:would|could)\s(?:help|be\s(?:useful|handy|nice|good))\b",
            r"\b(?:get|getting|come|coming)\s(?:close|closer|near)\sto\b",
        )
    ),
    FLAGS,
)
# A need for a number: a goal too, unless it was worked back from the target (then it is backward chaining).
NEED_GOAL = re.compile(
    "|".join(
        (
            rf"\b(?:i|we)\s(?:need|have)\sto\s{VERB}\s(?:to\s)?(?P<g1>{N}\b)",
            rf"\b(?:if|once)\s(?:i|we)\s(?:can\s)?(?:get|make|reach|have|find|obtain|form)\s(?:to\s)?(?:a\s)?"
            rf"(?P<g2>{N}\b)",
            rf"\b(?:need|needs|must|should|has\sto|have\sto)\b.{{0,40}}?\bto\s(?:make|get|reach|equal|give|produce)\s"
            rf"(?P<g3>{N}\b)",
            r"\b(?:need|needs|must|should|has\sto|have\sto)\s(?:cancel|vanish|contribute\snothing|be\sneutral)\b",
        )
    ),
    FLAGS,
)
NEED = re.compile(r"\b(?:need|needs|must|should|have\sto|has\sto|requires?|remains?|would\sdo)\b", FLAGS)
WORK_BACK = re.compile(
    r"\bwork(?:ing|ed)?\s(?:it\s)?backwards?\b|\bbackwards?\sfrom\b|\bfrom\sthe\s(?:target|end)\b|"
    r"\b(?:think|thinking|look|looking|reason|reasoning|going|go)\s(?:about\sit\s)?backwards?\b|\bin\sreverse\b|"
    r"\breverse\sthe\s(?:problem|process)\b|\b(?:final|last)\s(?:operation|step|move)\b",
    FLAGS,
)
DERIVE_ANY = re.compile(rf"\b{N}\s?{OP}\s?{N}\s?=\s?{N},?\s(?:so|then)\s(?:i|we)\s(?:need|must|have\sto)\b", FLAGS)
MOVE_TO = re.compile(r"^Moving to Node #([\d,]{1,200})$")
GENERATED_NODE = re.compile(r"^Generated Node #")
SOS_CHECK = re.compile(r"^\d{1,12},\d{1,12} unequal\b")

TARGET_IN_PROMPT = re.compile(rf"\b(?:equals?|target(?:\snumber)?(?:\sis)?|reach)\s?:?\s({N})\b", FLAGS)
SOS_TARGET = re.compile(rf"Current State: ({N}):")


@dataclass(frozen=True)
class TargetPatterns:
    """What the patterns that name the problem's target read: a derivation from it, which counts with a need word
    ("24 / 8 = 3, so I need 3", "to reach 47 ... I need"); the target taken apart ("The target 91 is 7 * 13", "47 =
    60 - 13", "61 as 66 - 5", "6, since 6 * 4 = 24"); a result said to equal it ("which equals 24"). The last two
    need a known target."""

    derive: re.Pattern[str]
    apart: re.Pattern[str] | None
    matched: re.Pattern[str] | None


def target_patterns(target: int | None) -> TargetPatterns:
    goal = r"the\starget" if target is None else rf"(?:the\starget|{target}\b)"
    derive = rf"\bto\s(?:reach|get|make|obtain|hit)\s{goal}.{{0,80}}?\b(?:need|must|could|can|have\sto)\b"
    if target is None:
        return TargetPatterns(re.compile(derive, FLAGS), None, None)
    derive += rf"|(?<![\d.]){target}\s?{OP}\s?\d"
    apart = rf"(?<![\d.,]){target}\s?(?:=|is|as|equals)\s(?:\w+\s)?\(?{N}\s?{OP}\s?\(?\d"
    apart += rf"|\b(?:because|since|as)\s\(?{N}\s?{OP}\s?{N}\)?\s?=\s?{target}\b"  # "6, since 6 * 4 = 24"
    matched = rf"\b(?:equals?|equal\sto|match(?:es)?|hits?)\s{target}\b"
    return TargetPatterns(re.compile(derive, FLAGS), re.compile(apart, FLAGS), re.compile(matched, FLAGS))


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


def _names_goal(pattern: re.Pattern[str], sentence: str, target: int | None) -> bool:
    """The pattern states a goal in the sentence: one that names no number, or a number not the target."""
    for match in pattern.finditer(sentence):
        goal = next((g for g in match.groups() if g is not None), None)
        if goal is None or target is None or int(goal) != target:
            return True
    return False


def _backward(sentence: str, target: int | None, patterns: TargetPatterns) -> bool:
    """Working back from the target; without a known target, any derivation "a op b = c, so I need"."""
    if WORK_BACK.search(sentence) or (target is None and DERIVE_ANY.search(sentence)):
        return True
    if patterns.apart is not None and patterns.apart.search(sentence):
        return True
    return bool(patterns.derive.search(sentence)) and bool(NEED.search(sentence))


def _shows(sentence: str, target: int | None, patterns: TargetPatterns) -> set[str]:
    found = set()
    if VERIFY.search(sentence) or (patterns.matched is not None and patterns.matched.search(sentence)):
        found.add(VERIFICATION)
    if BACKTRACK.search(sentence):
        found.add(BACKTRACKING)
    backward = _backward(sentence, target, patterns)
    if backward:
        found.add(BACKWARD_CHAINING)
    if _names_goal(GOAL, sentence, target) or (not backward and _names_goal(NEED_GOAL, sentence, target)):
        found.add(SUBGOAL_SETTING)
    return found


def _announces(previous: str, current: str) -> bool:
    """The previous sentence only announces what the current one does (it has no arithmetic of its own, or only the
    correction of a wrong step, as a mistake backtrack writes it)."""
    return "=" not in previous or bool(CORRECTION.search(previous))


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
    """Instances of each behaviour in one completion, and of strict backtracking: the backtracks whose last
    sentence (the jump), or the one before it, says the path fails."""
    parts = sentences(text)
    patterns = target_patterns(target)
    shown = [_shows(s, target, patterns) for s in parts]
    for i in range(1, len(parts)):  # a plain new attempt right after a failure leaves the failed path
        if _attempts(parts[i], parts[i - 1]) and _failed(parts[i - 1], shown[i - 1]):
            shown[i].add(BACKTRACKING)
    counts = dict.fromkeys(COLUMNS, 0)
    jumps: list[int] = []  # the last sentence of each backtrack instance
    for i, found in enumerate(shown):
        for name in found:
            joined = i > 0 and name in shown[i - 1] and CONTINUES[name](parts[i - 1], parts[i])
            counts[name] += not joined
            if name == BACKTRACKING and joined:
                jumps[-1] = i
            elif name == BACKTRACKING:
                jumps.append(i)
    counts[STRICT_BACKTRACKING] = sum(_strict(parts, shown, i) for i in jumps)
    returns, strict = _sos_backtracks(parts)
    counts[BACKTRACKING] += returns
    counts[STRICT_BACKTRACKING] += strict
    return counts


def _attempts(sentence: str, previous: str) -> bool:
    """The sentence starts a new attempt: in words, or a computation that is not the one the previous sentence
    checked (a correction: "12 + 5 is 17, not 18. 12 + 5 = 17.")."""
    fresh = FRESH.search(sentence)
    return bool(NEW_ATTEMPT.search(sentence)) or (
        fresh is not None and _spaceless(fresh[1]) not in _spaceless(previous)
    )


def _spaceless(text: str) -> str:
    return "".join(text.split())


def _failed(sentence: str, found: set[str]) -> bool:
    return bool(FAILED.search(sentence)) and (VERIFICATION in found or "work" in sentence.lower())


def _strict(parts: list[str], shown: list[set[str]], i: int) -> bool:
    """The backtrack whose jump is sentence i follows a realisation: in the sentence or the one before (a tokens
    backtrack: in its reason)."""
    if TOKEN_BACKTRACK.match(parts[i]):
        return bool(TOKEN_REALISED.search(parts[i]))
    return any(_realises(parts[j], shown[j]) for j in range(max(i - 1, 0), i + 1))


def _realises(sentence: str, found: set[str]) -> bool:
    """The sentence says a path does not work: a failed check, a dead end, a mistake."""
    return bool(REALISED.search(sentence)) or _failed(sentence, found)


def _sos_backtracks(parts: list[str]) -> tuple[int, int]:
    """Moves in a stream-of-search log to a node that is not below the current one, and those of them made from a
    state whose listing ended every operation in a failed goal check (no node generated)."""
    at, count, strict = "0", 0, 0
    checked = generated = 0  # at the state the log stands at
    for part in parts:
        move = MOVE_TO.match(part)
        if move:
            node = move.group(1)
            jump = not node.startswith(at + ",")
            count += jump
            strict += jump and checked > 0 and generated == 0
            at, checked, generated = node, 0, 0
        elif GENERATED_NODE.match(part):
            generated += 1
        elif SOS_CHECK.search(part):
            checked += 1
    return count, strict


class HeuristicTagger:
    """Counts behaviours with phrase and arithmetic patterns (approximate; see the module's docstring)."""

    name = "heuristic"

    def tag(self, records: list[dict]) -> list[BehaviorCounts]:
        return [
            BehaviorCounts(dict(count_behaviors(completion_of(record) or "", find_target(record))))
            for record in records
        ]
