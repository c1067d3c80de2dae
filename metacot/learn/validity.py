"""Whether a model's own Countdown trace is valid as text, in any trace format metacot writes: a walk over its lines
that keeps the states the text has reached (there is no tree: the text is all there is).

Valid: the text is `<think> body </think>` then `<answer> ... </answer>`; every line of the body is one a format
writes; every step is legal from the state the text stands on (or, after "Alternatively, ", from a state it reached),
computed right (a wrong step only when the same line says so, truly) and its new state restated right; every verdict
true; every backtrack goes to a state the text reached, and names only reached states in its reason; the sos log's
moves go to generated nodes whose state it restates. Reasons' values and exhaustion claims are not checked (they are
the search's opinions, which a text alone cannot check). The first violation is the reason the trace is invalid.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from fractions import Fraction

from metacot.linearize.attempts import SEPARATOR as ATTEMPT_SEPARATOR
from metacot.linearize.attempts import WRONG
from metacot.linearize.formats.metacot import VALUE, backtrack_patterns
from metacot.linearize.formats.paper import ALTERNATIVELY, FINAL_ANSWER, SOLUTION
from metacot.problems.base import StepError
from metacot.problems.countdown import CountdownDomain, CountdownProblem, format_state
from metacot.problems.countdown.parse import Number, claimed_step, exact

BLOCKS = re.compile(r"<think>(?P<body>.*?)</think>\n?<answer> ?(?P<answer>.*?) ?</answer>", re.S)
NO_BLOCKS = "not <think> ... </think> then <answer> ... </answer>"
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
NUMBER = r"-?[0-9]{1,30}(?:/[0-9]{1,30})?"
STATE = rf"\[(?:{NUMBER}(?:, {NUMBER})*)?\]"
STEP_LINE = re.compile(rf"(?P<alt>{ALTERNATIVELY})?(?P<step>[^.]*=[^.]*)\. (?P<rest>.*)")
NOW = re.compile(rf"Now I have (?P<state>{STATE})\.")
REACHED = re.compile(rf"(?P<x>{NUMBER}) = (?P<t>{NUMBER}), the target\.")
MISSED = re.compile(rf"(?P<x>{NUMBER}) is not (?P<t>{NUMBER})\.")
NOTICED = re.compile(r"Wait, that's wrong: (?P<why>.*)\.")
SOS_STATE = re.compile(rf"Current State: (?P<t>{NUMBER}):(?P<state>{STATE}), Operations: \[(?P<ops>.*)\]")
SOS_EXPLORE = re.compile(rf"Exploring Operation: (?P<step>\S+), Resulting Numbers: (?P<state>{STATE})")
SOS_NODE = re.compile(rf"Generated Node #(?P<id>[0-9,]+): (?P<t>{NUMBER}):(?P<state>{STATE}) Operation: (?P<step>\S+)")
SOS_GOAL = re.compile(rf"(?P<x>{NUMBER}),(?P<t>{NUMBER}) (?P<verdict>equal: Goal Reached|unequal: No Solution)")
SOS_MOVE = re.compile(r"Moving to Node #(?P<id>[0-9,]+)")
ATTEMPTS_LINE = re.compile(rf"From (?P<state>{STATE}): (?P<attempts>.+)\.")
ATTEMPT = re.compile(r"(?P<step>[^;()]*=[^;()]*) \((?P<why>[^;()]*)\)")
DOMAIN = CountdownDomain()
KEY = DOMAIN.state_key  # a state as the numbers it holds, in any order


@dataclass(frozen=True)
class Validity:
    valid: bool
    reason: str | None  # the first violation; None when valid
    steps: int  # step lines of the trace (the Solution block's restated path not counted)


def read_answer(text: str) -> str | None:
    """The text of the last `<answer> ... </answer>` block, stripped; None when there is none."""
    answers = ANSWER.findall(text)
    return answers[-1].strip() if answers else None


def check_trace(problem: CountdownProblem, text: str) -> Validity:
    """The verdict on a completion's trace (see the module's docstring): the first violation of its lines, else of its
    layout (a trace cut off before its answer)."""
    blocks = BLOCKS.fullmatch(text.strip())
    if blocks is not None:
        body, walk, layout = blocks["body"], Walk(problem, blocks["answer"].strip()), None
    else:
        body, walk, layout = text.strip().removeprefix("<think>").split("</think>")[0], Walk(problem, ""), NO_BLOCKS
    lines = body.strip("\n").split("\n") if body.strip() else []
    violations = [walk.line(line) for line in lines]  # every line read: the steps are counted past a violation
    reason = next((why for why in violations if why is not None), layout)
    return Validity(reason is None, reason, walk.steps)


def _state(text: str) -> tuple[Fraction, ...]:
    """The numbers of a state as a trace writes it ("[21, 8/3]"), in order: the STATE pattern has matched it."""
    return tuple(exact(n) for n in text[1:-1].split(", ") if n)


def _quote(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _key(text: str) -> tuple[Fraction, ...]:
    """A written state as KEY has it."""
    return tuple(sorted(_state(text)))


@functools.lru_cache(maxsize=1024)
def _backtracks(goal: str) -> tuple[list[re.Pattern[str]], list[tuple[bool, re.Pattern[str]]]]:
    """The metacot format's backtrack sentences for the goal: their go-back endings (to find a backtrack line fast),
    and (bare, regex) for each wording, without a reason or after one (group 'back': where it goes)."""
    patterns = backtrack_patterns(goal)
    bare = list(dict.fromkeys(back.pattern for *_, back in patterns))
    endings = [re.compile(rf"(?:^| ){b}\Z") for b in bare]
    sentences = [(True, re.compile(b)) for b in bare]
    sentences += [(False, re.compile(f"{reason.pattern} {back.pattern}")) for *_, reason, back in patterns]
    return endings, sentences


@dataclass
class Walk:
    """Where the text stands: the current state (None after a failed step), the states reached, the sos log's nodes
    and its last explored step; the step lines read."""

    problem: CountdownProblem
    answer: str
    current: tuple[Number, ...] | None = None
    reached: dict[tuple[Fraction, ...], tuple[Number, ...]] = field(default_factory=dict)
    nodes: dict[str, tuple[Number, ...]] = field(default_factory=dict)
    explored: tuple[str, tuple[Number, ...]] | None = None
    failed: bool = False  # the last step failed: a backtrack may go without a reason
    solution: bool = False  # inside the paper format's Solution block
    steps: int = 0

    def __post_init__(self) -> None:
        self.current = tuple(self.problem.numbers)
        self.reached[KEY(self.current)] = self.current
        self.nodes["0"] = self.current

    def line(self, line: str) -> str | None:
        """Read one line: the violation it makes, or None."""
        if line.startswith(VALUE):
            return None  # the search's opinion of a state
        if line.startswith(FINAL_ANSWER):
            ok = line[len(FINAL_ANSWER) :].strip() == self.answer
            return None if ok else f"the final answer line {_quote(line)} is not the answer given"
        if line == SOLUTION:
            self.solution, self.current = True, tuple(self.problem.numbers)
            return None
        if self.solution:
            return self._solution_step(line)
        endings, sentences = _backtracks(DOMAIN.goal(self.problem))
        if any(ending.search(line) for ending in endings):
            for bare, pattern in sentences:
                m = pattern.fullmatch(line)
                if m is not None:
                    return self._backtrack(m, bare, line)
        for pattern, read in self._readers():
            m = pattern.fullmatch(line)
            if m is not None:
                return read(m)
        return f"a line no trace format writes: {_quote(line)}"

    def _readers(self) -> list:
        return [
            (SOS_STATE, self._sos_state),
            (SOS_EXPLORE, self._sos_explore),
            (SOS_NODE, self._sos_node),
            (SOS_GOAL, self._sos_goal),
            (SOS_MOVE, self._sos_move),
            (ATTEMPTS_LINE, self._attempts),
            (STEP_LINE, self._step_line),
        ]

    # --- steps ---

    def _take(self, parent: tuple[Number, ...] | None, step: str) -> tuple[tuple[Number, ...], str | None]:
        """The state after a step from `parent` at face value and its slip; a StepError when it is not legal."""
        if parent is None:
            raise StepError("no state to step from: the step before failed")
        return claimed_step(parent, step)

    def _reach(self, state: tuple[Number, ...]) -> None:
        self.current = state
        self.reached.setdefault(KEY(state), state)

    def _step_line(self, m: re.Match[str]) -> str | None:
        """A step sentence of the metacot, cot and paper formats: the step, then what it gave."""
        self.steps += 1
        step, rest = m["step"], m["rest"]
        parent = self._parent(step, rest) if m["alt"] else self.current
        noticed = NOTICED.fullmatch(rest)
        try:
            state, slip = self._take(parent, step)
        except StepError as error:
            self.failed, self.current = True, None
            if noticed is None:
                return f"{_quote(step)}: {error}"
            return None if noticed["why"] == str(error) else f"{_quote(step)} is wrong because {error}"
        if noticed is not None:
            self.failed, self.current = True, None
            if slip is None:
                return f"{_quote(step)} is right, but the text says it is wrong"
            return None if noticed["why"] == slip else f"{_quote(step)} is wrong because {slip}"
        if slip is not None:
            return slip
        self._reach(state)
        self.failed = MISSED.fullmatch(rest) is not None
        return self._outcome(step, state, rest)

    def _attempts(self, m: re.Match[str]) -> str | None:
        """A metacot attempts line ("From [4, 9, 3]: 9 * 3 = 28 (wrong: 9 * 3 is 27, not 28); ..."): from a state
        the text reached, steps that fail as each says: wrong for the reason given, or finishing on a number that is
        not the target."""
        if _key(m["state"]) not in self.reached:
            return f"{_quote(m[0])} names {m['state']}, a state the text has not reached"
        attempts = m["attempts"].split(ATTEMPT_SEPARATOR)
        self.steps += len(attempts)
        for attempt in attempts:
            a = ATTEMPT.fullmatch(attempt)
            if a is None:
                return f"{_quote(attempt)} is not an attempt a trace format writes"
            try:
                state, slip = self._take(self.reached[_key(m["state"])], a["step"])
            except StepError as error:
                slip = str(error)
            if slip is not None:
                if a["why"] != WRONG.format(error=slip):
                    return f"{_quote(a['step'])} is wrong because {slip}"
            elif MISSED.fullmatch(a["why"] + ".") is None or self._outcome(a["step"], state, a["why"] + "."):
                return f"{_quote(attempt)}: the attempt did not fail as it says"
        return None

    def _parent(self, step: str, rest: str) -> tuple[Number, ...] | None:
        """The reached state an "Alternatively, " step starts from: one it is legal from, whose result the sentence
        tells truly if one does (None: no reached state has its numbers)."""
        legal = []
        for state in self.reached.values():
            try:
                legal.append((state, self._take(state, step)[0]))
            except StepError:
                continue
        told = [state for state, after in legal if self._outcome("", after, rest) is None]
        return next(iter(told or [state for state, _ in legal]), None)

    def _outcome(self, step: str, state: tuple[Number, ...], rest: str) -> str | None:
        """What a right step's sentence says it gave: the new state, or a verdict on the last number."""
        target = Fraction(self.problem.target)
        now, reached, missed = NOW.fullmatch(rest), REACHED.fullmatch(rest), MISSED.fullmatch(rest)
        if now is not None:
            ok = _key(now["state"]) == KEY(state)
            return None if ok else f"{_quote(step)} leaves {format_state(state)}, not {now['state']}"
        if reached is not None:
            ok = KEY(state) == (target,) == (exact(reached["x"]),) and exact(reached["t"]) == target
            return None if ok else f"{_quote(step)} leaves {format_state(state)}, not the target {target}"
        if missed is not None:
            ok = len(state) == 1 and exact(missed["x"]) == exact(state[0]) != target == exact(missed["t"])
            return None if ok else f"{_quote(step)} leaves {format_state(state)}: the verdict {_quote(rest)} is false"
        return f"{_quote(step)} is followed by {_quote(rest)}, which no trace format writes"

    def _solution_step(self, line: str) -> str | None:
        """A step of the paper format's Solution block: legal and right from where the block stands."""
        try:
            state, slip = self._take(self.current, line)
        except StepError as error:
            return f"Solution: {_quote(line)}: {error}"
        self.current = state
        return slip

    # --- backtracks ---

    def _backtrack(self, m: re.Match[str], bare: bool, line: str) -> str | None:
        """A metacot backtrack: the states it names were reached; with no reason, only after a failed step."""
        named = [m[k] for k in ("state", "back") if k in m.groupdict() and m[k] is not None]
        for state in named:
            if re.fullmatch(STATE, state) is None or _key(state) not in self.reached:
                return f"{_quote(line)} names {state}, a state the text has not reached"
        if bare and not self.failed:
            return f"{_quote(line)} goes back without a reason after a step that did not fail"
        self.current, self.failed = self.reached[_key(m["back"])], False
        return None

    # --- the sos log ---

    def _sos_state(self, m: re.Match[str]) -> str | None:
        """"Current State: target:[..], Operations: [..]": the state the log stands on, and the path to it."""
        if exact(m["t"]) != self.problem.target:
            return f"the log's target {m['t']} is not {self.problem.target}"
        if self.current is None or _key(m["state"]) != KEY(self.current):
            return f"the log says it stands on {m['state']}, not {format_state(self.current or ())}"
        path: tuple[Number, ...] = tuple(self.problem.numbers)
        for op in re.findall(r"'([^']*)'", m["ops"]):
            try:
                path, slip = claimed_step(path, op)
            except StepError as error:
                return f"the operations {m['ops']}: {error}"
            if slip is not None:
                return f"the operations {m['ops']}: {slip}"
        ok = KEY(path) == KEY(self.current)
        return None if ok else f"the operations [{m['ops']}] give {format_state(path)}, not {m['state']}"

    def _sos_explore(self, m: re.Match[str]) -> str | None:
        self.steps += 1
        try:
            state, slip = self._take(self.current, m["step"])
        except StepError as error:
            return f"{_quote(m['step'])}: {error}"
        self.explored = (m["step"], state)
        self.reached.setdefault(KEY(state), state)
        if slip is not None:
            return slip
        ok = _key(m["state"]) == KEY(state)
        return None if ok else f"{_quote(m['step'])} leaves {format_state(state)}, not {m['state']}"

    def _sos_node(self, m: re.Match[str]) -> str | None:
        if self.explored is None or m["step"] != self.explored[0]:
            return f"node #{m['id']} is generated by {m['step']}, not by the operation just explored"
        if _key(m["state"]) != KEY(self.explored[1]) or exact(m["t"]) != self.problem.target:
            return f"node #{m['id']} restates {m['t']}:{m['state']}, not the explored result"
        self.nodes[m["id"]] = self.explored[1]
        return None

    def _sos_goal(self, m: re.Match[str]) -> str | None:
        target = Fraction(self.problem.target)
        if self.explored is None or KEY(self.explored[1]) != (exact(m["x"]),) or exact(m["t"]) != target:
            return f"the check {_quote(m[0])} is not of the operation just explored"
        ok = (m["verdict"] == "equal: Goal Reached") == (exact(m["x"]) == target)
        return None if ok else f"the check {_quote(m[0])} is false"

    def _sos_move(self, m: re.Match[str]) -> str | None:
        if m["id"] not in self.nodes:
            return f"moves to node #{m['id']}, which the log never generated"
        self.current = self.nodes[m["id"]]
        return None
