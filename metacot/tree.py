"""Search trees: nodes with parent pointers, the visit trace, compute accounting, JSON and networkx export."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from operator import itemgetter
from typing import Any

from metacot.treecheck import ROOT, TreeError, check_structure


@dataclass(slots=True)
class Node:
    """One reasoning state: the step that led to it, what the policy and PRM said, what search learned."""

    id: int
    parent: int  # -1 at the root
    depth: int
    path: str  # stable path id: "0", "0.2", "0.2.1"
    step: str = ""  # the step text that led here ("" at the root)
    state: Any = None  # the domain's state after the step (JSON-serializable)
    tokens: int = 0
    logprob: float | None = None
    finish_reason: str = "stop"
    prior: float | None = None
    score: float | None = None  # PRM score in [0, 1]
    visits: int = 0
    value_sum: float = 0.0
    terminal: bool = False
    # verified against the answer, terminal nodes only; None on a terminal node: the check could not decide (math's
    # deadline), so the node is neither a solution nor said to be wrong
    correct: bool | None = None
    error: str | None = None  # why the step is invalid: a dead node
    # A wrong result taken at face value (problems.countdown.notice = "when-found"): what is true ("12 + 5 is 17,
    # not 18"). The truth kept for traces and audits, not a dead-node signal: the node lives, and the search learns
    # of the mistake only when it verifies a finished path below (Domain.first_mistake), which then fails.
    slip: str | None = None
    # A slip the search found (an immediate wrong result, or a when-found one its verification of a finished path
    # below found): the child of its parent with the step corrected by the domain (Domain.correct_step), made by
    # search.expand, or the sibling the policy had already proposed with that step. None: not found, or not corrected.
    repair: int | None = None
    # When the search found the wrong result of a live step (when-found): the trace visits made before. From then on
    # nothing below it is expanded, and no trace goes below it again (linearize.walk).
    noticed_at: int | None = None
    # The evidence behind `score` when it is a Monte Carlo estimate (the rollout PRM): verified completions out of
    # completions tried. None for a score that is not a count (a learned PRM, the oracle).
    successes: int | None = None
    rollouts: int | None = None
    expanded: bool = False
    # When the node was first expanded: the number of trace visits made before its children were created (set by
    # the runner as it answers the Expand). What a trace may say the search knew at a visit reads it
    # (SearchTree.expanded_by), never the strategy's name: strategies expand and visit in different orders.
    expanded_at: int | None = None
    reexpanded: int = 0  # times the search asked for more children after the first expansion (widening)
    duplicates: int = 0  # identical proposals merged into this node, and transpositions of its position
    # A transposition (search.protocol.Transpositions): the node holding this one's position, reached by other
    # steps; this one was merged into it and never taken up.
    transposes: int | None = None
    # The behaviours a conditioned policy's step cited (metacot.policy.cite): read off its text, which `step` holds
    # without the citation marks.
    cites: tuple[str, ...] = ()
    children: list[int] = field(default_factory=list)

    @property
    def value(self) -> float:
        """Mean backed-up value, falling back to the PRM score before the first visit."""
        if self.visits:
            return self.value_sum / self.visits
        return self.score if self.score is not None else 0.0

    @property
    def known_value(self) -> float | None:
        """The value no model is needed for: 0.0 for a dead step, 1.0 or 0.0 for a verified terminal step (0.0 for an
        undecided one: it is no solution); else None.

        The one rule every PRM and search uses for such nodes. A step taken at face value (`slip`) is not known: the
        search has not checked it yet."""
        if self.error is not None:
            return 0.0
        if self.terminal:
            return 1.0 if self.correct else 0.0
        return None

    @property
    def dead(self) -> bool:
        """Nothing more to search here: an invalid step, or a finished path that is no solution."""
        return self.error is not None or (self.terminal and not self.correct)

    @property
    def undecided(self) -> bool:
        """A finished path whose answer the check could not decide: dead to the search, but not wrong."""
        return self.terminal and self.error is None and self.correct is None


_NODE_FIELDS = tuple(f.name for f in fields(Node))
_NODE_DEFAULTS = {f.name: f.default for f in fields(Node) if f.default is not MISSING}
_node_values = itemgetter(*_NODE_FIELDS)
# newer fields: left out of the JSON while they hold their default, so trees without them read the same
_WRITTEN_WHEN_SET = {
    "slip": None,
    "repair": None,
    "noticed_at": None,
    "successes": None,
    "rollouts": None,
    "expanded_at": None,
    "reexpanded": 0,
    "transposes": None,
    "cites": (),
}


@dataclass(slots=True)
class Compute:
    """What a search spent: the units budgets are set in and benchmarks compare."""

    nodes: int = 0
    policy_calls: int = 0
    proposals: int = 0
    generated_tokens: int = 0
    prm_calls: int = 0
    scored_nodes: int = 0
    wall_time: float = 0.0
    # The rollout PRM's generation: completions generated (`rollouts`), their tokens, and the rollout requests (one
    # per node per wave of completions); completions taken over from an ancestor's rollouts (`reused_rollouts`)
    # cost nothing. Written only when not zero, so trees scored without rollouts read as before.
    rollout_calls: int = 0
    rollouts: int = 0
    rollout_tokens: int = 0
    reused_rollouts: int = 0
    # nodes made by the search itself, not proposed: the corrected steps of slips it found (search.expand.repair);
    # in `nodes` too. Written only when not zero.
    repairs: int = 0

    def to_dict(self) -> dict:
        values = {name: getattr(self, name) for name in _COMPUTE_FIELDS}  # asdict's deep copies cost 10x this
        return {k: v for k, v in values.items() if k not in _WRITTEN_WHEN_USED or v}


_COMPUTE_FIELDS = tuple(f.name for f in fields(Compute))
_WRITTEN_WHEN_USED = ("rollout_calls", "rollouts", "rollout_tokens", "reused_rollouts", "repairs")


@dataclass
class SearchTree:
    """Every node a search created, in creation order (id = index), and the order it thought about them."""

    problem_id: str
    problem: dict
    search: str = ""
    nodes: list[Node] = field(default_factory=list)
    trace: list[int] = field(default_factory=list)
    # The value the search held for each visited node right after that visit, parallel to `trace`: written by
    # searches whose values change over time (MCTS: the node's Q after the visit's backup). Empty: a node's value
    # is its PRM score. Traces print and compare these values (value lines, "value 0.12" in a backtrack).
    trace_values: list[float] = field(default_factory=list)
    compute: Compute = field(default_factory=Compute)
    failed: str | None = None  # why the search could not finish, if it could not
    behaviors: list[str] = field(default_factory=list)  # the handbook behaviours the policy was conditioned on
    # The rollout PRM's completions that went on below the node they were rolled out from: node id -> the step they
    # took from it -> the rest of each after that step, for the child with that step to take over (prm.rollout.reuse).
    # Working state of a search in flight: not saved.
    passing: dict[int, dict[str, list[list[str]]]] = field(default_factory=dict, repr=False, compare=False)
    # Corrected steps (Node.repair) made as children of a node other than the one being expanded: node id -> their
    # ids, handed to the search with that node's next expansion (search.expand.grow). Working state: not saved.
    unreported: dict[int, list[int]] = field(default_factory=dict, repr=False, compare=False)
    # Every corrected step in the order it was made or taken (a sibling with that step): a trace writes it right after
    # its slip is named, so the search's transpositions hear of it (protocol.Transpositions). Working state: not saved.
    corrections: list[int] = field(default_factory=list, repr=False, compare=False)
    # walk.shown_found's answers (slip id -> whether the text can name it; None while one is worked out), for the
    # trace of the length given: the walk and the audit ask them of the same slips again. Not saved.
    shown: tuple[int, dict[int, bool | None]] = field(default_factory=lambda: (-1, {}), repr=False, compare=False)
    # The answer checks made for this problem (answer -> True, False, or None: undecided), by this search or an
    # earlier one it retried: whatever works on the tree again reuses them (problems.verdicts). Empty for domains
    # whose check is cheap and exact (Countdown).
    verdicts: dict[str, bool | None] = field(default_factory=dict)
    # The search took each position up once (protocol.Transpositions), so its traces never reach the same numbers by
    # two nodes: what `metacot audit` then checks of them (best-of-N's independent chains do not merge).
    transpositions_merged: bool = False

    @classmethod
    def with_root(cls, problem_id: str, problem: dict, state: Any, search: str = "") -> SearchTree:
        tree = cls(problem_id=problem_id, problem=problem, search=search)
        tree.nodes.append(Node(id=ROOT, parent=-1, depth=0, path="0", state=state))
        tree.compute.nodes = 1
        return tree

    @property
    def root(self) -> Node:
        return self.nodes[ROOT]

    def add_child(self, parent: Node, step: str, **attrs: Any) -> Node:
        # (id, parent, depth, path, step), positional: search makes every node here, and keywords cost more
        node = Node(
            len(self.nodes), parent.id, parent.depth + 1, f"{parent.path}.{len(parent.children)}", step, **attrs
        )
        self.nodes.append(node)
        parent.children.append(node.id)
        self.compute.nodes += 1
        return node

    def visit(self, node: Node) -> None:
        self.trace.append(node.id)

    def value_at(self, node_id: int, index: int) -> float | None:
        """The value the search held for a node at trace position `index`: its latest trace value at or before it;
        for a node not visited by then, what the search takes before a visit: the verifier's 1/0 for a verified
        node (searches that write trace_values) or else its PRM score (None when it has none)."""
        for i in range(min(index, len(self.trace_values) - 1), -1, -1):
            if self.trace[i] == node_id:
                return self.trace_values[i]
        node = self.nodes[node_id]
        if self.trace_values and node.known_value is not None:
            return node.known_value
        return node.score

    def expanded_by(self, node_id: int, visit: int) -> bool:
        """Whether the node had been expanded (its first children created) before the search made trace visit
        `visit`."""
        expanded_at = self.nodes[node_id].expanded_at
        return expanded_at is not None and expanded_at <= visit

    def path_to(self, node_id: int) -> list[int]:
        """Node ids from the root down to node_id, both included."""
        path = []
        while node_id != -1:
            path.append(node_id)
            node_id = self.nodes[node_id].parent
        path.reverse()
        return path

    def steps_to(self, node_id: int) -> list[str]:
        return [self.nodes[i].step for i in self.path_to(node_id)[1:]]

    def common_ancestor(self, a: int, b: int) -> int:
        nodes = self.nodes
        while nodes[a].depth > nodes[b].depth:
            a = nodes[a].parent
        while nodes[b].depth > nodes[a].depth:
            b = nodes[b].parent
        while a != b:
            a, b = nodes[a].parent, nodes[b].parent
        return a

    def first_slip(self, node_id: int) -> int | None:
        """The first node from the root down to node_id whose step was taken at face value with a wrong result."""
        return next((i for i in self.path_to(node_id) if self.nodes[i].slip is not None), None)

    def found_slip(self, node_id: int, visit: int) -> int | None:
        """The first step on the path to node_id whose wrong result the search had found, as a live step, before
        trace visit `visit` (Node.noticed_at): what a trace never builds on from then on."""
        slip = self.first_slip(node_id)
        if slip is None:
            return None
        noticed_at = self.nodes[slip].noticed_at
        return slip if noticed_at is not None and noticed_at <= visit else None

    def verified_below(self, node_id: int, visit: int) -> bool:
        """A finished path (a terminal step, not an illegal one) at the node or below it, created before trace visit
        `visit`: the search has verified it."""
        node = self.nodes[node_id]
        if node.terminal:
            return node.error is None
        return self.expanded_by(node_id, visit) and any(self.verified_below(c, visit) for c in node.children)

    def solutions(self) -> list[Node]:
        return [n for n in self.nodes if n.correct]

    @property
    def solved(self) -> bool:
        return any(n.correct for n in self.nodes)

    def to_dict(self) -> dict:
        return {
            "problem_id": self.problem_id,
            "problem": self.problem,
            "search": self.search,
            "solved": self.solved,
            "failed": self.failed,
            "compute": self.compute.to_dict(),
            "trace": self.trace,
            **({"trace_values": self.trace_values} if self.trace_values else {}),
            **({"behaviors": self.behaviors} if self.behaviors else {}),
            "nodes": [_node_dict(n) for n in self.nodes],
            **({"verdicts": self.verdicts} if self.verdicts else {}),
            **({"transpositions_merged": True} if self.transpositions_merged else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> SearchTree:
        """The tree of a record (to_dict's); TreeError saying what is wrong with a damaged one, checked once here
        so that nothing that walks the tree can fail or loop on it (check_structure)."""
        try:
            tree = cls(
                problem_id=data["problem_id"],
                problem=data["problem"],
                search=data.get("search", ""),
                nodes=[_node(n) for n in data["nodes"]],
                trace=list(data["trace"]),
                trace_values=list(data.get("trace_values", [])),
                compute=Compute(**data.get("compute", {})),
                failed=data.get("failed"),
                behaviors=list(data.get("behaviors", [])),
                verdicts=dict(data.get("verdicts", {})),
                transpositions_merged=data.get("transpositions_merged") is True,
            )
        except KeyError as missing:
            raise TreeError(f"not a tree record: no {missing} field (in the record or one of its nodes)") from None
        except (TypeError, AttributeError, ValueError) as error:
            raise TreeError(f"not a tree record ({error})") from None
        check_structure(tree.nodes, tree.trace, tree.trace_values)
        _date_old_expansions(tree)
        return tree

    def to_networkx(self):
        """A networkx.DiGraph with one vertex per node (its fields as attributes) and parent -> child edges."""
        import networkx as nx

        graph = nx.DiGraph(problem_id=self.problem_id, search=self.search, trace=list(self.trace))
        for node in self.nodes:
            attrs = {name: getattr(node, name) for name in _NODE_FIELDS if name != "children"}
            graph.add_node(node.id, **attrs)
            if node.parent >= 0:
                graph.add_edge(node.parent, node.id)
        return graph


def _date_old_expansions(tree: SearchTree) -> None:
    """A tree saved before nodes recorded when they were expanded: each expanded node dated by the latest time the
    tree proves, the first visit of any of its children (a child exists before it is visited), else the trace's
    end. Never earlier than the truth, so what a trace says the search knew then stays true; it may know less."""
    undated = [node for node in tree.nodes if node.expanded and node.expanded_at is None]
    if not undated:
        return
    first: dict[int, int] = {}
    for i, node_id in enumerate(tree.trace):
        first.setdefault(node_id, i)
    end = len(tree.trace)
    for node in undated:
        node.expanded_at = min((first.get(child, end) for child in node.children), default=end)


def _node(data: dict) -> Node:
    """A node from its record: its values in field order, those left out at their defaults (twice as fast as
    Node(**data), most of the cost of reading a tree). KeyError for a missing id, parent, depth, path or children."""
    return Node(*_node_values({**_NODE_DEFAULTS, **data}))


def _node_dict(node: Node) -> dict:
    """The node's record: its fields in order, the newer ones (_WRITTEN_WHEN_SET) only when set. Spelled out field
    by field: four times as fast as a loop over the fields, and writing every tree goes through here
    (tests/test_engine_paths.py checks it against the fields)."""
    record = {
        "id": node.id,
        "parent": node.parent,
        "depth": node.depth,
        "path": node.path,
        "step": node.step,
        "state": node.state,
        "tokens": node.tokens,
        "logprob": node.logprob,
        "finish_reason": node.finish_reason,
        "prior": node.prior,
        "score": node.score,
        "visits": node.visits,
        "value_sum": node.value_sum,
        "terminal": node.terminal,
        "correct": node.correct,
        "error": node.error,
    }
    if node.slip is not None:
        record["slip"] = node.slip
    if node.repair is not None:
        record["repair"] = node.repair
    if node.noticed_at is not None:
        record["noticed_at"] = node.noticed_at
    if node.successes is not None:
        record["successes"] = node.successes
    if node.rollouts is not None:
        record["rollouts"] = node.rollouts
    record["expanded"] = node.expanded
    if node.expanded_at is not None:
        record["expanded_at"] = node.expanded_at
    if node.reexpanded:
        record["reexpanded"] = node.reexpanded
    record["duplicates"] = node.duplicates
    if node.transposes is not None:
        record["transposes"] = node.transposes
    if node.cites:
        record["cites"] = node.cites
    record["children"] = node.children
    return record
