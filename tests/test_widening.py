"""Re-expansion (widening): MCTS's progressive-widening rule, A*/BFS/DFS's requests for more children, new seeds for
new expansions, a policy that runs out of steps, and `widening = false` giving the trees of the search without it."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field

import orjson
import pytest
from conftest import TablePRM, ToyDomain, run_search, toy_problems

from metacot.policy.base import ExpandRequest, Proposal
from metacot.policy.symbolic import SymbolicCountdownPolicy, SymbolicPolicyConfig
from metacot.prm.oracle import CountdownOraclePRM, OracleConfig
from metacot.problems.countdown import CountdownProblem, generate_problems, legal_moves
from metacot.search import AStarConfig, BFSConfig, Budget, DFSConfig, MCTSConfig
from metacot.search.budget import DEFAULT_ROLLOUTS
from metacot.search.mcts import expansion_value
from metacot.search.runner import expansion_seed
from metacot.seeding import mix
from metacot.tree import ROOT, Node, SearchTree

NOISY = dict(policy=SymbolicPolicyConfig(mistake_rate=0.2), prm=OracleConfig(flip_prob=0.2))


@dataclass
class Ask:
    """One request to the policy, as the search made it."""

    node: int
    visits: int  # the node's visits when asked (MCTS: before this simulation's backup)
    children: int  # children it held before
    first: bool  # its first expansion
    n: int
    seed: int
    answered: int = 0  # proposals returned


@dataclass
class Recording:
    """Wraps a policy and records every request (per problem)."""

    inner: object
    asks: dict[str, list[Ask]] = field(default_factory=lambda: defaultdict(list))

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        out = self.inner.propose(requests)  # type: ignore[attr-defined]
        for r, props in zip(requests, out, strict=True):
            node = r.node
            ask = Ask(node.id, node.visits, len(node.children), not node.expanded, r.n, r.seed, len(props))
            self.asks[r.tree.problem_id].append(ask)
        return out


def countdown_run(search, config, problems, noise=NOISY, seed=0):
    policy = Recording(SymbolicCountdownPolicy(noise["policy"]))
    trees, _ = run_search(problems, search, config, policy, CountdownOraclePRM(noise["prm"]), seed=seed)
    return trees, policy.asks


def by_node(asks: list[Ask]) -> dict[int, list[Ask]]:
    grouped: dict[int, list[Ask]] = defaultdict(list)
    for ask in asks:
        grouped[ask.node].append(ask)
    return grouped


# --- MCTS: progressive widening --------------------------------------------------------------------------------


def test_mcts_children_stay_within_the_widening_rule_and_grow_only_when_it_allows():
    config = MCTSConfig(simulations=120, expand_width=3, widen_c=2.0, widen_alpha=0.5, stop_at_first_solution=False)
    trees, asks = countdown_run("mcts", config, generate_problems(20, seed=1))

    def limit(visits: int) -> int:
        return math.ceil(config.widen_c * visits**config.widen_alpha)

    widened = 0
    for tree in trees:
        for node in tree.nodes:  # the bound on the saved tree: the first expansion's width, then the rule (the
            proposed = [c for c in node.children if tree.nodes[c].tokens]  # children proposed: not corrections)
            assert len(proposed) <= max(config.expand_width, limit(node.visits)), node
        for ask in asks[tree.problem_id]:
            if ask.first:
                assert ask.children == 0 and ask.n <= config.expand_width
                continue
            widened += 1
            # visits before this simulation's backup, as the rule saw them
            assert ask.children < limit(ask.visits)  # asked only when the rule allows more children
            assert ask.children + ask.n <= limit(ask.visits) and ask.n <= config.expand_width
        for node_asks in by_node(asks[tree.problem_id]).values():  # never asked again after nothing new
            assert all(a.answered > 0 for a in node_asks[:-1])
        assert sum(n.reexpanded for n in tree.nodes) == sum(not a.first for a in asks[tree.problem_id])
    assert widened > len(trees)


def test_mcts_widening_adds_children_beyond_the_first_expansion():
    config = MCTSConfig(simulations=200, stop_at_first_solution=False)
    trees, _ = countdown_run("mcts", config, generate_problems(5, seed=3))
    for tree in trees:
        assert len(tree.root.children) > config.expand_width
        assert tree.root.reexpanded > 0
    off, _ = countdown_run("mcts", MCTSConfig(simulations=200, stop_at_first_solution=False, widening=False),
                           generate_problems(5, seed=3))  # fmt: skip
    proposed = [[c for c in t.root.children if t.nodes[c].tokens] for t in off]  # not the domain's corrections
    assert all(len(children) == 8 and t.root.reexpanded == 0 for children, t in zip(proposed, off, strict=True))


# --- MCTS: wrong samples are evidence against the steps, not the node ---------------------------------------------


class WrongThenGoal:
    """The root gets new ordinary steps on every request; step s0 gets only wrong finished steps at its first
    expansion and the solution at its second; any other node wrong finished steps."""

    def __init__(self):
        self.asked: list[str] = []

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        out = []
        for r in requests:
            step = r.node.state[-1] if r.node.state else "root"
            self.asked.append(step)
            first = len(r.node.children)
            if step == "root":
                out.append([Proposal(f"s{first + i}", tokens=1) for i in range(r.n)])
            elif step == "s0" and first:
                out.append([Proposal("goal", tokens=1)])
            else:
                out.append([Proposal(f"fail-{step}-{first + i}", tokens=1) for i in range(2)])
        return out


def test_mcts_keeps_a_nodes_value_when_its_sampled_steps_were_all_wrong():
    """s0 scores 1 (the others 0.1); its first two steps fail. Backing up their 0 would bury it under its siblings;
    its own value is backed up instead, so the next simulation asks it for more and finds the solution."""
    prm = TablePRM(table={"s0": 1.0}, default=0.1)
    config = MCTSConfig(simulations=50, expand_width=4)
    policy = WrongThenGoal()
    tree = run_search(toy_problems(), "mcts", config, policy, prm, ToyDomain())[0][0]
    assert [step for step in policy.asked if step != "root"][:2] == ["s0", "s0"] and tree.solved
    off = MCTSConfig(simulations=50, expand_width=4, widening=False)
    policy = WrongThenGoal()
    tree = run_search(toy_problems(), "mcts", off, policy, prm, ToyDomain())[0][0]
    s0 = next(tree.nodes[i] for i in tree.root.children if tree.nodes[i].step == "s0")
    assert s0.value_sum == 0.0 and not tree.solved  # without widening nothing new can come: the zeros stand


def expansion_case(leaf_score: float, children: list[dict], visits: int = 0, value_sum: float = 0.0):
    tree = SearchTree.with_root("t", {}, ())
    leaf = tree.add_child(tree.root, "s", state=("s",))
    leaf.score, leaf.visits, leaf.value_sum = leaf_score, visits, value_sum
    return leaf, [tree.add_child(leaf, f"c{i}", **{"state": ("s", f"c{i}"), **c}) for i, c in enumerate(children)]


def test_expansion_value_rules():
    on, off = MCTSConfig(), MCTSConfig(widening=False)
    wrong = [dict(terminal=True, correct=False), dict(state=None, terminal=True, correct=False, error="illegal")]
    leaf, children = expansion_case(0.9, wrong)
    assert expansion_value(leaf, children, on, widened=False, may_grow=True) == 0.9
    assert expansion_value(leaf, children, on, widened=False, may_grow=False) == 0.0  # nothing more will come
    assert expansion_value(leaf, children, off, widened=False, may_grow=True) == 0.0
    leaf, children = expansion_case(0.9, [*wrong, dict()])
    children[-1].score = 0.3
    assert expansion_value(leaf, children, on, widened=False, may_grow=True) == 0.3  # a live child is evidence
    leaf, _ = expansion_case(0.9, [], visits=4, value_sum=2.0)
    assert expansion_value(leaf, [], on, widened=True, may_grow=False) == 0.5  # nothing new: its mean stands
    assert expansion_value(leaf, [], on, widened=False, may_grow=True) == 0.0  # no step at all: a dead end


def test_a_symbolic_slip_never_repeats_a_child():
    """Every step a mistake (rate 1), once per operation: asked again, never a child's step (which would be merged,
    and the node would look as if it had nothing new): the right steps, then nothing."""
    problem = CountdownProblem("t", (2, 3, 5), 1000)
    policy = SymbolicCountdownPolicy(SymbolicPolicyConfig(mistake_rate=1.0))
    tree = tree_with_children(problem, [])
    answered = []
    for seed in range(8):
        texts = [p.text for p in policy.propose([ExpandRequest(problem, tree, tree.root, seed=seed, n=100)])[0]]
        assert not set(texts) & {tree.nodes[i].step for i in tree.root.children}
        answered.append(len(texts))
        for text in texts:
            tree.add_child(tree.root, text)
    assert answered[0] > 0 and answered[-1] == 0
    fresh = tree_with_children(problem, [])
    right = {p.text for p in SymbolicCountdownPolicy().propose([ExpandRequest(problem, fresh, fresh.root, 0, 100)])[0]}
    steps = {tree.nodes[i].step for i in tree.root.children}
    assert right <= steps  # each operation slips once (rate 1); asked again, the policy proposes it right
    assert len(steps - right) == len(right)


def test_astar_and_mcts_compare_at_equal_policy_calls_by_default():
    """MCTS expands at most one node per simulation; A*'s default budget is as many expansions (and every
    strategy's default limit on the rollout PRM's completions)."""
    assert AStarConfig().budget.limits() == {"policy_calls": MCTSConfig().simulations, "rollouts": DEFAULT_ROLLOUTS}


# --- seeds -----------------------------------------------------------------------------------------------------


def test_the_kth_expansion_gets_its_own_seed_and_the_first_keeps_the_old_one():
    node = Node(id=5, parent=ROOT, depth=1, path="0.0")
    seeds = [expansion_seed(7, node)]
    assert seeds[0] == mix(7, 5, 0)  # a first expansion: the seed it had before widening
    node.expanded = True
    for _ in range(4):
        seeds.append(expansion_seed(7, node))
        node.reexpanded += 1
    assert len(set(seeds)) == len(seeds)


def test_re_expansion_seeds_differ_in_real_runs():
    for search, config in [
        ("mcts", MCTSConfig(simulations=120, stop_at_first_solution=False)),
        ("astar", AStarConfig(budget=Budget(nodes=200), stop_at_first_solution=False)),
    ]:
        _, asks = countdown_run(search, config, generate_problems(10, seed=2))
        again = 0
        for problem_asks in asks.values():
            for node_asks in by_node(problem_asks).values():
                assert len({a.seed for a in node_asks}) == len(node_asks)
                again += len(node_asks) > 1
        assert again > 0, search


# --- a policy with nothing new ---------------------------------------------------------------------------------


def tree_with_children(problem: CountdownProblem, steps: list[str]) -> SearchTree:
    tree = SearchTree.with_root(problem.id, {}, problem.numbers)
    for step in steps:
        tree.add_child(tree.root, step)
    tree.root.expanded = True
    return tree


def test_the_symbolic_policy_proposes_only_new_steps_then_nothing():
    problem = CountdownProblem("t", (2, 3, 5), 1000)
    policy = SymbolicCountdownPolicy()
    tree = tree_with_children(problem, [])
    every = {p.text for p in policy.propose([ExpandRequest(problem, tree, tree.root, seed=1, n=100)])[0]}
    assert len(every) == len(set(legal_moves(problem.numbers, policy.config.moves)))
    some = sorted(every)[:4]
    tree = tree_with_children(problem, some)
    rest = {p.text for p in policy.propose([ExpandRequest(problem, tree, tree.root, seed=2, n=100)])[0]}
    assert rest == every - set(some)
    tree = tree_with_children(problem, sorted(every))
    assert policy.propose([ExpandRequest(problem, tree, tree.root, seed=3, n=100)]) == [[]]


CONFIGS = {
    "mcts": MCTSConfig(simulations=400, stop_at_first_solution=False),
    "astar": AStarConfig(budget=Budget(nodes=400), max_expansions=50, stop_at_first_solution=False),
    "bfs": BFSConfig(budget=Budget(nodes=400), max_expansions=50, stop_at_first_solution=False),
    "dfs": DFSConfig(budget=Budget(nodes=400), max_expansions=50, stop_at_first_solution=False),
}


@pytest.mark.parametrize("search", sorted(CONFIGS))
def test_the_search_stops_asking_once_the_legal_moves_are_used_up(search):
    """Three numbers and an unreachable target: the root's every legal step is tried, then asked no more."""
    problem = CountdownProblem("t", (2, 3, 5), 1000)
    exact = dict(policy=SymbolicPolicyConfig(), prm=OracleConfig())
    trees, asks = countdown_run(search, CONFIGS[search], [problem], exact)
    tree = trees[0]
    moves = set(legal_moves(problem.numbers, SymbolicPolicyConfig().moves))
    root_asks = by_node(asks["t"])[ROOT]
    assert len(tree.root.children) == len(moves)
    assert root_asks[-1].answered == 0  # it said it had nothing new...
    assert all(a.answered > 0 for a in root_asks[:-1])  # ...once, and was never asked again
    for node_asks in by_node(asks["t"]).values():
        assert all(a.answered > 0 for a in node_asks[:-1])


# --- A*, BFS, DFS: requests for more, up to max_expansions ---------------------------------------------------------


class FreshPolicy:
    """New steps on every request: ordinary steps down to depth 2, then failed finished paths."""

    def __init__(self):
        self.asked: dict[int, int] = defaultdict(int)

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        out = []
        for r in requests:
            self.asked[r.node.id] += 1
            kind = "fail" if r.node.depth >= 2 else "s"
            first = len(r.node.children)
            out.append([Proposal(f"{kind}{r.node.id}-{first + i}", tokens=1) for i in range(r.n)])
        return out


@pytest.mark.parametrize("search", ["astar", "bfs", "dfs"])
def test_a_node_is_asked_again_up_to_max_expansions(search):
    cls = {"astar": AStarConfig, "bfs": BFSConfig, "dfs": DFSConfig}[search]
    config = cls(budget=Budget(nodes=500), expand_width=2, max_expansions=3)
    policy = FreshPolicy()
    tree = run_search(toy_problems(), search, config, policy, TablePRM(), ToyDomain())[0][0]
    assert max(policy.asked.values()) == config.max_expansions == policy.asked[ROOT]
    for node in tree.nodes:
        assert policy.asked.get(node.id, 0) == (node.reexpanded + 1 if node.expanded else 0)
    assert len(tree.root.children) == config.expand_width * config.max_expansions
    off = cls(budget=Budget(nodes=500), expand_width=2, widening=False)
    policy = FreshPolicy()
    tree = run_search(toy_problems(), search, off, policy, TablePRM(), ToyDomain())[0][0]
    assert set(policy.asked.values()) == {1} and len(tree.root.children) == 2


def test_dfs_asks_for_more_only_after_the_children_came_to_nothing():
    config = DFSConfig(expand_width=2, max_expansions=2)
    policy = FreshPolicy()
    tree = run_search(toy_problems(), "dfs", config, policy, TablePRM(), ToyDomain())[0][0]
    first_again = tree.trace.index(ROOT, 1)  # the root popped again: a request for more
    first_children = tree.root.children[: config.expand_width]
    below = [i for i in tree.trace[:first_again] if i != ROOT]
    assert all(any(a in first_children for a in tree.path_to(i)) for i in below)
    assert len(set(below)) == sum(1 for n in tree.nodes if n.id in below)  # their subtrees were searched first
    assert all(tree.nodes[i].depth <= 3 for i in below)


def test_astar_asks_for_more_of_a_node_when_its_children_look_worse():
    """A request for more is valued like one more child with the node's value plus widen_cost per expansion."""
    prm = TablePRM(fn=lambda steps: 0.9 if len(steps) == 1 and steps[0].endswith("-0") else 0.01)
    config = AStarConfig(budget=Budget(nodes=40), expand_width=2, step_cost=0.0, widen_cost=1.0)
    tree = run_search(toy_problems(), "astar", config, FreshPolicy(), prm, ToyDomain())[0][0]
    # root (f 0), s0-0 (h 0.105), then the root asked again (h 0 + 1.0), before s0-0's request for more (0.105 + 1)
    # and every poor child (h 4.6)
    assert tree.trace[:4] == [ROOT, 1, ROOT, 1]
    assert tree.root.reexpanded > 0


# --- widening off: the trees of the search without it ----------------------------------------------------------

# sha256 (first 16 hex digits) of the trees of 12 noisy Countdown problems (generate_problems(12, seed=2), policy
# mistake_rate 0.2, oracle flip_prob 0.2, run seed 1), made by the code before widening (commit 975cd42) with its
# defaults (MCTS: 64 simulations); less the expansion times nodes record since (`expanded_at`). A* since its goal
# test at generation (a solution ends the search where it is created, not when popped): the same trees cut at the
# expansion that creates the first solution (checked against 746045ab03afa317's when the digest was changed). Since
# a found slip is repaired (search.expand.repair: the domain's corrected step a child of the slip's parent), the trees
# hold the corrections and the searches go on from them: regenerated then (were fe6c2cf9dfbb84d0, e503d145a3324fda,
# 11c70c7aba1e04ac, 7a0f1eb14d8cfe34). Since every tree search merges transpositions (protocol.Transpositions: a
# merged node records its holder in `transposes`, the tree says `transpositions_merged`; MCTS and A* now take a
# position up once, and a slip's corrected step waits for its numbers' holder), regenerated again (were
# 98d1dbe055c08ba2, ed6c964ff228f8c4, 795732a69e735b31, b1accf256c0ccb4a). Since the symbolic policy slips once per
# operation in a search (a repeat of an operation it slipped on is proposed right), regenerated again (were
# 06f5daafc1f1f3f8, b5ebacaa5026b072, ca843b3cc5085516, b6a459a4fe107ae4).
BEFORE_WIDENING = {
    "mcts": "9b564f53d36140c0",
    "astar": "7b159e51ca1fdb63",
    "bfs": "23f2b63393104fb3",
    "dfs": "19bb168e962c6894",
}
OFF = {
    "mcts": MCTSConfig(simulations=64, widening=False),
    "astar": AStarConfig(budget=Budget(nodes=200), widening=False),  # the default budget of the time
    "bfs": BFSConfig(widening=False),
    "dfs": DFSConfig(widening=False),
}


def digest(trees: list[SearchTree]) -> str:
    dicts = []
    for tree in trees:
        data = tree.to_dict()
        data["compute"]["wall_time"] = 0.0
        data["nodes"] = [{k: v for k, v in node.items() if k != "expanded_at"} for node in data["nodes"]]
        dicts.append(data)
    return hashlib.sha256(orjson.dumps(dicts)).hexdigest()[:16]


@pytest.mark.parametrize("search", sorted(OFF))
def test_widening_off_gives_the_trees_of_the_search_before_widening(search):
    policy = SymbolicCountdownPolicy(NOISY["policy"])
    prm = CountdownOraclePRM(NOISY["prm"])
    problems = generate_problems(12, seed=2)
    trees, _ = run_search(problems, search, OFF[search], policy, prm, seed=1, concurrency=8)
    assert digest(trees) == BEFORE_WIDENING[search]
    on = dataclasses.replace(OFF[search], widening=True)
    widened, _ = run_search(problems, search, on, policy, prm, seed=1, concurrency=8)
    assert digest(widened) != BEFORE_WIDENING[search]  # the check can fail


@pytest.mark.parametrize(("widen_c", "widen_alpha"), [(8.0, 1e308), (1e308, 2.0)])
def test_a_widening_rule_past_a_floats_range_allows_every_child_without_overflow(widen_c, widen_alpha):
    config = MCTSConfig(simulations=30, expand_width=3, widen_c=widen_c, widen_alpha=widen_alpha)
    trees, asks = countdown_run("mcts", config, generate_problems(3, seed=1))
    assert len(trees) == 3 and any(not a.first for tree_asks in asks.values() for a in tree_asks)  # it widened
