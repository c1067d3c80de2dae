"""The sos format: the stream-of-search log (Gandhi et al. 2024) of a domain of numbers combined toward a target. At
each state the search went to it lists every operation the domain lists, with its result, numbering the nodes they
generate in order; it moves to the states the search went to, returning to a state written before to go on from it
(a backtrack), and ends at the first operation that reaches the goal. Its audit reads it line by line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metacot.linearize.formats.base import TraceFormat
from metacot.linearize.render import Context
from metacot.linearize.walk import Move, walk
from metacot.problems.base import Domain, StepOutcome
from metacot.tree import ROOT

if TYPE_CHECKING:
    from metacot.linearize.auditor import Auditor

GOAL, NO_GOAL = "equal: Goal Reached", "unequal: No Solution"
EXPLORING, MOVING = "Exploring Operation: ", "Moving to Node #"
# the log's lines (the writer's, its audit's and the reader's): {numbers} as numbers_text writes them, {operation}
# as operation_text, {operations} a list of them as Python prints it, {node} a node id ("0,3,1")
CURRENT = "Current State: {target}:{numbers}, Operations: {operations}"
RESULTING = ", Resulting Numbers: "
EXPLORED = EXPLORING + "{operation}" + RESULTING + "{numbers}"
GENERATED = "Generated Node #{node}: {target}:{numbers} Operation: {operation}"
CHECKED = "{value},{target} {verdict}"
MOVED = MOVING + "{node}"


@dataclass(frozen=True)
class Operation:
    """A listed operation: its step, what it gives from the state as written (the domain's outcome), and the node
    the search made of it (None: the search never made it)."""

    step: str
    outcome: StepOutcome
    node: int | None

    @property
    def wins(self) -> bool:
        return self.outcome.terminal and bool(self.outcome.correct)


@dataclass
class Log:
    """What the log has written of the tree: each generated node's id, the numbers and the steps that lead to it."""

    ctx: Context
    ids: dict[int, str] = field(default_factory=lambda: {ROOT: "0"})
    states: dict[int, Any] = field(default_factory=dict)
    steps: dict[int, list[str]] = field(default_factory=lambda: {ROOT: []})

    def __post_init__(self) -> None:
        self.states[ROOT] = self.ctx.domain.root_state(self.ctx.problem)

    def listing(self, node_id: int) -> list[Operation]:
        """The operations listed at a node (listed_from), up to the first that reaches the goal; records each made
        child's id (contiguous among the nodes its listing generates), numbers and steps."""
        operations = []
        generated = 0
        for op in listed_from(self.ctx, node_id, self.states[node_id]):
            operations.append(op)
            if op.wins:
                break
            if op.outcome.terminal:
                continue
            if op.node is not None:
                self.ids[op.node] = f"{self.ids[node_id]},{generated}"
                self.states[op.node] = op.outcome.state
                self.steps[op.node] = [*self.steps[node_id], op.step]
            generated += 1
        return operations

    def arrive(self, node_id: int) -> list[str]:
        """The lines of the log's first arrival at a node: its state, then its listing."""
        target = self.ctx.problem.target
        lines = [self.current_state(node_id)]
        generated = 0
        for op in self.listing(node_id):
            text, numbers = operation_text(op.step), numbers_text(op.outcome.state)
            lines.append(EXPLORED.format(operation=text, numbers=numbers))
            if op.outcome.terminal:
                self.ctx.checks += 1
                verdict = GOAL if op.wins else NO_GOAL
                lines.append(CHECKED.format(value=op.outcome.state[0], target=target, verdict=verdict))
            else:
                node = f"{self.ids[node_id]},{generated}"
                lines.append(GENERATED.format(node=node, target=target, numbers=numbers, operation=text))
                generated += 1
        return lines

    def current_state(self, node_id: int) -> str:
        ops = [operation_text(step) for step in self.steps[node_id]]
        numbers = numbers_text(self.states[node_id])
        return CURRENT.format(target=self.ctx.problem.target, numbers=numbers, operations=ops)


def listed_from(ctx: Context, node_id: int, state: Any) -> list[Operation]:
    """Every step the domain lists from the numbers as written, in its order, each with the child the search made of
    it (the same step, else the same numbers); then the search's other children (steps the domain does not list:
    fractions, negatives). A wrong step (illegal, or a wrong result taken at face value) has no words in the log."""
    steps = list(ctx.domain.legal_steps(ctx.problem, state) or [])
    outcomes = [ctx.domain.apply_step(ctx.problem, state, step) for step in steps]
    made: list[int | None] = [None] * len(steps)
    children = [c for c in ctx.node(node_id).children if not ctx.node(c).dead and ctx.first_slip(c) is None]
    for same in (_same_step, _same_numbers):
        for k, step in enumerate(steps):
            found = [c for c in children if made[k] is None and same(ctx, c, step, outcomes[k])]
            if found:
                made[k] = found[0]
                children.remove(found[0])
    steps += [ctx.node(c).step.strip() for c in children]
    outcomes += [ctx.domain.apply_step(ctx.problem, state, step) for step in steps[len(made) :]]
    made += children
    return [Operation(*operation) for operation in zip(steps, outcomes, made, strict=True)]


def _same_step(ctx: Context, child: int, step: str, outcome: StepOutcome) -> bool:
    return operation_text(ctx.node(child).step) == operation_text(step)


def _same_numbers(ctx: Context, child: int, step: str, outcome: StepOutcome) -> bool:
    key = ctx.domain.state_key(ctx.node(child).state)
    return key is not None and outcome.state is not None and key == ctx.domain.state_key(outcome.state)


def operation_text(step: str) -> str:
    """A step as the log writes an operation: '6*5=30'."""
    return step.strip().rstrip(".").replace(" ", "")


def numbers_text(state: Any) -> str:
    return "[" + ", ".join(map(str, state)) + "]"


def log_moves(ctx: Context, search_moves: list[Move]) -> list[Move]:
    """The moves the log makes: to each state the search went to, in the search's order, from its parent (going back
    to the parent first, a backtrack, where the log stands elsewhere); not to a finished path (its check is in its
    parent's listing), below a wrong step, or to a state the search never expanded (a slip's correction it did not
    take up, a state its budget ran out at: the listing would show steps from where the search made none). It ends
    at the first state whose listing reaches the goal."""
    log = Log(ctx)
    moves: list[Move] = []
    if _wins(log.listing(ROOT)):
        return moves
    at = ROOT
    for move in search_moves:
        node = ctx.node(move.node)
        if move.kind == "backtrack" or node.dead or ctx.first_slip(node.id) is not None or not node.expanded:
            continue
        if node.parent != at:
            moves.append(Move("backtrack", node.parent, move.visit))
        moves.append(Move("step", node.id, move.visit))
        at = node.id
        if _wins(log.listing(node.id)):
            break
    return moves


def _wins(listed: list[Operation]) -> bool:
    return bool(listed) and listed[-1].wins


def reached(ctx: Context, moves: list[Move]) -> list[str] | None:
    """The steps of the solution the log reaches: the steps to the last state it went to and that state's winning
    operation; None when its listing reaches no goal."""
    last = moves[-1].node if moves else ROOT
    log = Log(ctx)
    for node_id in ctx.tree.path_to(last):
        listed = log.listing(node_id)
    return [*log.steps[last], listed[-1].step] if _wins(listed) else None


def render_sos(ctx: Context, moves: list[Move]) -> list[str]:
    """The log: the root's state and listing, then each move, a return restating the state written before."""
    log = Log(ctx)
    lines = log.arrive(ROOT)
    for move in moves:
        lines.append(MOVED.format(node=log.ids[move.node]))
        lines += [log.current_state(move.node)] if move.kind == "backtrack" else log.arrive(move.node)
    return lines


def numbers_to_target(domain: Domain) -> bool:
    return domain.numbers_to_target


@dataclass
class Written:
    """A node as the log generated it: its parent's id, the numbers and the steps that lead to it, the search's node
    the log went to there (None: not gone to), and its Current State line once written."""

    parent: str
    state: Any
    steps: list[str]
    node: int | None = None
    current: str | None = None


class SosReader:
    """The audit of a sos record, line by line: each listing is every step the domain lists from the numbers written
    (recomputed), in its order, each result and goal check recomputed, node ids in order, and besides them only
    steps the search took there; the log goes only to states the search went to, in its order, and back only to
    states written before, restating them; its goal, answer and counts are the record's."""

    def __init__(self, auditor: Auditor, lines: list[str]):
        self.auditor, self.lines, self.at = auditor, lines, 0
        problem = auditor.problem
        self.target = problem.target
        self.written = {"0": Written("", auditor.domain.root_state(problem), [], ROOT)}
        self.reach = _reach_order(auditor)
        self.goal: list[str] | None = None
        self.backtracks = self.steps = self.last = 0  # last: the reach position of the last state gone to
        self.gone: set[int] = set()  # the search's nodes the log went to

    def read(self, answer: str) -> None:
        auditor, record = self.auditor, self.auditor.record
        if self._arrive("0") and self._moves():
            if self.goal is None:
                auditor.claim(not record["correct"], "(end)", "the log reaches no goal, but the record is correct")
            else:
                final = auditor.domain.final_answer(auditor.problem, self.goal)
                ok = record["correct"] and answer == final
                auditor.claim(ok, self.lines[-1], f"the record must answer with the goal's path: {final}")
        counts = f"{self.backtracks} backtracks and {self.steps} steps"
        ok = (record["num_backtracks"], record["num_steps"]) == (self.backtracks, self.steps)
        auditor.claim(ok, counts, f"the record says {record['num_backtracks']} and {record['num_steps']}")

    def _next(self) -> str | None:
        self.at += 1
        return self.lines[self.at - 1] if self.at <= len(self.lines) else None

    def _moves(self) -> bool:
        """Read the moves up to the end; False when the log cannot be followed further."""
        here = "0"
        while (line := self._next()) is not None:
            if self.goal is not None or not line.startswith(MOVING):
                self.auditor.fail(line, "after a goal or a listing, only a move can follow")
                return False
            to = line[len(MOVING) :]
            node = self.written.get(to)
            if node is None or to == here:
                self.auditor.fail(line, "moves to a node the log never generated, or to where it stands")
                return False
            if node.current is not None:  # back to a state written before
                self.backtracks += 1
                self.auditor.claim(self._next() == node.current, line, f"the state there is {node.current!r}")
            elif not (self._went(here, node, line) and self._arrive(to)):
                return False
            here = to
        return True

    def _went(self, here: str, node: Written, line: str) -> bool:
        """A move to a node not gone to yet: from its parent, to a state the search went to from there (a node not
        gone to before), after the states the log went to before."""
        auditor = self.auditor
        parent = self.written[node.parent].node
        if not auditor.claim(
            node.parent == here and parent is not None,
            line,
            "a move to a node generated at a state the log stands away from, without going back there first",
        ):
            return False
        assert parent is not None
        domain, nodes = auditor.domain, auditor.tree.nodes
        key = domain.state_key(node.state)
        found = [c for c in nodes[parent].children if c in self.reach and c not in self.gone]
        found = [c for c in found if key is not None and not nodes[c].dead and domain.state_key(nodes[c].state) == key]
        found.sort(key=lambda c: (operation_text(nodes[c].step) != operation_text(node.steps[-1]), self.reach[c]))
        if not auditor.claim(bool(found), line, "goes to a state the search did not go to from there"):
            return False
        node.node = found[0]
        self.gone.add(found[0])
        auditor.claim(self.reach[found[0]] >= self.last, line, "goes to states in another order than the search")
        self.last = self.reach[found[0]]
        self.steps += 1
        return True

    def _arrive(self, node_id: str) -> bool:
        """The Current State line of a node gone to, and its listing."""
        node = self.written[node_id]
        operations = [operation_text(step) for step in node.steps]
        node.current = CURRENT.format(target=self.target, numbers=numbers_text(node.state), operations=operations)
        line = self._next()
        if not self.auditor.claim(line == node.current, str(line), f"the state here is {node.current!r}"):
            return False
        return self._listing(node_id, node)

    def _listing(self, node_id: str, node: Written) -> bool:
        auditor, domain, problem = self.auditor, self.auditor.domain, self.auditor.problem
        listed: list[str] = []
        generated = 0
        while self.at < len(self.lines) and self.lines[self.at].startswith(EXPLORING):
            line = self._next()
            assert line is not None
            op, _, numbers = line[len(EXPLORING) :].partition(RESULTING)
            outcome = domain.apply_step(problem, node.state, op)
            if outcome.error is not None or outcome.slip is not None:
                auditor.fail(line, f"wrong step: {outcome.error or outcome.slip}")
                return False
            auditor.claim(numbers == numbers_text(outcome.state), line, f"it gives {numbers_text(outcome.state)}")
            listed.append(operation_text(op))
            after = self._next()
            if outcome.terminal:
                wins = bool(outcome.correct)
                check = CHECKED.format(value=outcome.state[0], target=self.target, verdict=GOAL if wins else NO_GOAL)
                auditor.claim(after == check, str(after), f"the check is {check!r}")
                if wins:
                    self.goal = [*node.steps, op]
                    break
                continue
            child = f"{node_id},{generated}"
            generated += 1
            numbers = numbers_text(outcome.state)
            made = GENERATED.format(node=child, target=self.target, numbers=numbers, operation=listed[-1])
            if not auditor.claim(after == made, str(after), f"the node generated is {made!r}"):
                return False
            self.written[child] = Written(node_id, outcome.state, [*node.steps, op])
        return self._complete(node, listed)

    def _complete(self, node: Written, listed: list[str]) -> bool:
        """The listing is every step the domain lists, in order (up to a goal), then steps the search took there."""
        auditor = self.auditor
        domain_lists = [operation_text(s) for s in auditor.domain.legal_steps(auditor.problem, node.state) or []]
        where = f"Current State: {numbers_text(node.state)}"
        every = len(listed) >= len(domain_lists) or self.goal is not None  # a goal ends the listing
        if not every or listed[: len(domain_lists)] != domain_lists[: len(listed)]:
            missing = [op for op in domain_lists if op not in listed]
            auditor.fail(where, f"does not list every operation in order ({', '.join(missing) or 'the order'})")
            return False
        auditor.result.claims += 1
        nodes = auditor.tree.nodes
        taken = {operation_text(nodes[c].step) for c in nodes[node.node].children} if node.node is not None else set()
        extra = [op for op in listed[len(domain_lists) :] if op not in taken]
        return auditor.claim(not extra, where, f"lists steps neither the domain lists nor the search took: {extra}")


def _reach_order(auditor: Auditor) -> dict[int, int]:
    """Each node the search went to, at the position of the first trace visit at or below it, in the walk's order
    (linearize.walk: a repaired slip's correction comes with it); solutions it created but never visited come last."""
    tree = auditor.tree
    order: dict[int, int] = {}
    for move in walk(tree, [*tree.trace, *(s.id for s in tree.solutions())]):
        if move.kind == "step":
            order.setdefault(move.node, move.visit)
    return order


def audit_sos(auditor: Auditor, lines: list[str], answer: str) -> None:
    SosReader(auditor, lines).read(answer)


SOS = TraceFormat(
    help="a stream-of-search log",
    render=render_sos,
    parse=audit_sos,
    serves=numbers_to_target,  # the log speaks of numbers and a target
    needs="needs numbers and a target (Countdown's)",
    own_moves=log_moves,
    reaches=reached,
)
