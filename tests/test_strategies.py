"""The baseline strategies (best-of-N, beam, BFS, DFS), the shared compute budget, and rounds of expansions."""

from __future__ import annotations

import dataclasses
import sys

import orjson
import pytest
from conftest import CountingPolicy, ScriptedPolicy, TablePRM, ToyDomain, key, run_search, toy_problems

from metacot.linearize import FORMATS, LinearizeConfig, linearize
from metacot.policy.symbolic import SymbolicCountdownPolicy, SymbolicPolicyConfig
from metacot.prm.oracle import CountdownOraclePRM, OracleConfig
from metacot.problems.base import StepOutcome
from metacot.problems.countdown import CountdownDomain, CountdownProblem, generate_problems, verify_answer
from metacot.search import (
    SEARCHES,
    UNITS,
    AStarConfig,
    BeamConfig,
    BestOfNConfig,
    BFSConfig,
    Budget,
    DFSConfig,
    Expand,
    MCTSConfig,
    Runner,
    Score,
    StateKeys,
)
from metacot.search.best_of_n import selected
from metacot.search.budget import LIMITS as BUDGET_LIMITS
from metacot.search.budget import spent as budget_spent
from metacot.search.protocol import Transpositions
from metacot.tree import ROOT, Compute, SearchTree

NOISY_POLICY = SymbolicPolicyConfig(mistake_rate=0.2)
NOISY_PRM = OracleConfig(flip_prob=0.2)

# Configs that spend in every unit (PRM-guided, no early stop), so that each unit's limit can bind.
SPENDING = {
    "mcts": MCTSConfig(simulations=300, expand_width=4, stop_at_first_solution=False),
    "astar": AStarConfig(budget=Budget(), expand_width=4, stop_at_first_solution=False, heuristic="linear"),
    "beam": BeamConfig(beam_width=3, expand_width=3, stop_at_first_solution=False),
    "best_of_n": BestOfNConfig(n=6, selection="weighted"),
    "bfs": BFSConfig(budget=Budget(), expand_width=4, heuristic="prm", stop_at_first_solution=False),
    "dfs": DFSConfig(budget=Budget(), expand_width=4, heuristic="prm", stop_at_first_solution=False),
}
LIMITS = {
    "nodes": [1, 6, 15, 40],
    "policy_calls": [0, 1, 3, 7],
    "generated_tokens": [0, 12, 62, 150],
    "prm_calls": [0, 1, 2, 4],
    "scored_nodes": [0, 5, 11, 30],
}
STEP_TOKENS = 5  # the symbolic policy's steps: "a op b = c"


def countdown_run(search: str, config, problems, seed: int = 0, policy=None, prm=None) -> list[SearchTree]:
    policy = policy or SymbolicCountdownPolicy(NOISY_POLICY)
    prm = prm or CountdownOraclePRM(NOISY_PRM)
    trees, _ = run_search(problems, search, config, policy, prm, seed=seed)
    return trees


def spent(tree: SearchTree, unit: str) -> int:
    return budget_spent(tree.compute, unit)  # nodes: not the domain's corrections of slips


# --- budgets ------------------------------------------------------------------------------------------------


def test_every_registered_strategy_is_covered():
    assert set(SPENDING) == set(SEARCHES)


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("search", sorted(SPENDING))
def test_no_strategy_exceeds_its_budget_in_any_unit(search, unit):
    problems = generate_problems(12, seed=5)
    unlimited = countdown_run(search, SPENDING[search], problems)
    for limit in LIMITS[unit]:
        budget = Budget.of(unit, limit, max_step_tokens=STEP_TOKENS)
        config = dataclasses.replace(SPENDING[search], budget=budget)
        trees = countdown_run(search, config, problems)
        for tree in trees:
            assert spent(tree, unit) <= limit, (search, unit, limit, tree.problem_id)
            assert budget.within(tree.compute)
            assert tree.compute.nodes == len(tree.nodes)
        # where the limit binds, the search spends up to it rather than stopping short
        if any(spent(t, unit) > limit for t in unlimited):
            slack = STEP_TOKENS - 1 if unit == "generated_tokens" else 0
            assert max(spent(t, unit) for t in trees) >= limit - slack, (search, unit, limit)
    assert any(spent(t, unit) > min(LIMITS[unit]) for t in unlimited)  # the unit is spent: the test can fail


def test_budget_limits_a_search_that_would_spend_more():
    problems = generate_problems(10, seed=1)
    config = BFSConfig(budget=Budget(), expand_width=6, stop_at_first_solution=False)
    free = countdown_run("bfs", config, problems)
    assert min(len(t.nodes) for t in free) > 40
    capped = countdown_run("bfs", dataclasses.replace(config, budget=Budget(nodes=40)), problems)
    assert max(spent(t, "nodes") for t in capped) == 40


def test_the_node_limit_and_the_other_budget_limits_both_apply():
    problems = generate_problems(15, seed=2)
    base = MCTSConfig(simulations=500, expand_width=4, stop_at_first_solution=False)
    for nodes, policy_calls, cap in [(30, None, 30), (20, 50, 20), (None, 3, None)]:
        config = dataclasses.replace(base, budget=Budget(nodes=nodes, policy_calls=policy_calls))
        trees = countdown_run("mcts", config, problems)
        if cap is not None:
            assert max(spent(t, "nodes") for t in trees) == cap
        else:
            assert max(t.compute.policy_calls for t in trees) == 3
    astar = AStarConfig(budget=Budget(nodes=25, prm_calls=2), stop_at_first_solution=False)
    trees = countdown_run("astar", astar, problems)
    assert all(t.compute.prm_calls <= 2 and spent(t, "nodes") <= 25 for t in trees)
    assert max(t.compute.prm_calls for t in trees) == 2


def test_allowance_reserves_across_a_round_of_expansions():
    budget = Budget(nodes=20, scored_nodes=9, policy_calls=5)
    compute = Compute(nodes=5, scored_nodes=2, policy_calls=1)
    allowance = budget.allowance(compute)
    assert [allowance.expand(4) for _ in range(4)] == [4, 3, 0, 0]  # 7 scored nodes left: 4, then 3
    # unscored children only need nodes (8 left) and calls (2 left)
    assert [allowance.expand(4, scored=False) for _ in range(3)] == [4, 4, 0]
    tokens = Budget(generated_tokens=23, max_step_tokens=5).allowance(Compute(generated_tokens=2))
    assert tokens.expand(8) == 4 and tokens.expand(8) == 0  # 21 tokens left: four steps of at most five
    prm = Budget(prm_calls=1, scored_nodes=10).allowance(Compute())
    assert prm.score(4) == 4 and prm.score(4) == 0
    assert Budget(prm_calls=0).room(Compute(), 8) == 0
    assert Budget(prm_calls=0).room(Compute(), 8, scored=False) == 8
    assert Budget().room(Compute(nodes=10**6), 8) == 8


def test_allowance_keeps_each_limit_in_its_own_field():
    for k, unit in enumerate(BUDGET_LIMITS):
        spent = Compute(**{u: 1 for u in BUDGET_LIMITS})
        allowance = Budget(**{"rollouts": None, unit: 10 + k}, max_step_tokens=1).allowance(spent)
        left = {u: getattr(allowance, u) for u in BUDGET_LIMITS}
        assert left == {u: 9 + k if u == unit else sys.maxsize for u in BUDGET_LIMITS}


def test_budget_rejects_bad_limits():
    with pytest.raises(ValueError, match="max_step_tokens"):
        Budget(generated_tokens=100)
    with pytest.raises(ValueError, match="nodes: must be a non-negative integer"):
        Budget(nodes=-1)
    budget = Budget()
    budget.nodes = -1  # a budget changed after it was built: the config that holds it checks it
    with pytest.raises(ValueError, match="budget.nodes: must be a non-negative integer"):
        AStarConfig(budget=budget)
    with pytest.raises(ValueError, match="unknown budget unit"):
        Budget.of("seconds", 3)
    assert Budget.of("prm_calls", 3).limits() == {"prm_calls": 3}


# --- every strategy's trace linearizes ------------------------------------------------------------------------

NEW = {
    "beam": BeamConfig(beam_width=3, expand_width=5),
    "best_of_n": BestOfNConfig(n=20, selection="majority"),
    "best_of_n:argmax": BestOfNConfig(n=20, selection="argmax"),
    "bfs": BFSConfig(budget=Budget(nodes=120), expand_width=6),
    "dfs": DFSConfig(budget=Budget(nodes=120), expand_width=6),
    "dfs:prm": DFSConfig(budget=Budget(nodes=60), expand_width=6, heuristic="prm"),
    "bfs:prm": BFSConfig(budget=Budget(nodes=120), expand_width=6, heuristic="prm", stop_at_first_solution=False),
}


@pytest.mark.parametrize("label", sorted(NEW))
def test_new_strategies_traces_linearize_to_verified_answers(label):
    search = label.split(":")[0]
    problems = generate_problems(30, seed=3)
    trees = countdown_run(search, NEW[label], problems)
    domain = CountdownDomain()
    solved = 0
    for problem, tree in zip(problems, trees, strict=True):
        assert tree.trace and tree.trace[0] == ROOT
        assert all(0 <= node_id < len(tree.nodes) for node_id in tree.trace)
        for stop in (True, False):
            config = LinearizeConfig(stop_at_first_solution=stop, include_unsolved=True)
            for fmt in FORMATS:
                record = linearize(tree, domain, fmt, config)
                # sos lists every legal operation at a state the search expanded, sampled or not: its log may reach
                # the goal where the search did not (then its answer verifies)
                if not tree.solved and not (fmt == "sos" and record["correct"]):
                    assert record is None if fmt == "cot" else not record["correct"]
                    continue
                assert record["correct"] and verify_answer(problem, record["answer"]), (label, fmt)
                answer = record["completion"].split("<answer>")[1].split("</answer>")[0]
                assert verify_answer(problem, answer)
        solved += tree.solved
    assert solved >= 2, label  # some trees are solved, so the checks above ran
    # the trace survives saving
    again = SearchTree.from_dict(trees[0].to_dict())
    assert again.trace == trees[0].trace


# --- best-of-N ------------------------------------------------------------------------------------------------


class VoteDomain(ToyDomain):
    """A step "x=7" ends with answer 7 (correct when it is 24); the state of a finished chain is its answer."""

    def apply_step(self, problem, state, step: str) -> StepOutcome:
        if "=" in step:
            answer = step.split("=")[1]
            return StepOutcome(state=(answer,), terminal=True, correct=answer == "24")
        return super().apply_step(problem, state, step)


# chain: first step -> final step, and the PRM's score of the final step
CHAINS = {"a": ("a=7", 0.95), "b": ("b=7", 0.1), "c": ("c=7", 0.1), "d": ("d=24", 0.6), "e": ("e=24", 0.6)}
CHAINS["f"] = ("f=9", 0.99)


def vote_run(selection: str, n: int = 6):
    children = {"": list(CHAINS), **{k: [final] for k, (final, _) in CHAINS.items()}}
    policy = ScriptedPolicy(children)
    prm = TablePRM({final: score for final, score in CHAINS.values()})
    config = BestOfNConfig(n=n, selection=selection)
    trees, _ = run_search(toy_problems(), "best_of_n", config, policy, prm, VoteDomain())
    return trees[0], policy, prm


@pytest.mark.parametrize(
    "selection, expected", [("majority", "a=7"), ("weighted", "d=24"), ("argmax", "f=9")]
)  # 7: three votes, 1.15 in scores; 24: two votes, 1.2; 9: one vote with the highest score
def test_best_of_n_selection_modes_pick_what_they_should(selection, expected):
    tree, policy, prm = vote_run(selection)
    choice = selected(tree, selection)
    assert choice is not None and choice.step == expected
    again = selected(SearchTree.from_dict(tree.to_dict()), selection)  # also from the saved tree
    assert again.id == choice.id
    # lockstep: the root with n=6, then all six chains in one round; the PRM only when the selection needs it
    assert policy.batches == [1, 6]
    assert [n for _, _, n in policy.requests] == [6, 1, 1, 1, 1, 1, 1]
    assert prm.batches == ([] if selection == "majority" else [6])
    # the trace walks the chains in order, each from the root
    nodes = tree.nodes
    assert [nodes[i].step for i in tree.trace] == ["", *(s for k, (f, _) in CHAINS.items() for s in (k, f))]


@pytest.mark.parametrize("selection", ["majority", "weighted", "argmax"])
def test_best_of_n_ties_go_to_the_first_chain_and_dead_chains_do_not_vote(selection):
    # three dead chains (they would win a vote if they had an answer), then 5, 6, 6, 5: a tie, equal scores
    first = ["p", "q", "r", "s", "t", "u", "v"]
    chains = {"": first, "p": ["err1"], "q": ["err2"], "r": ["err3"], "s": ["s=5"], "t": ["t=6"], "u": ["u=6"]}
    chains["v"] = ["v=5"]
    prm = TablePRM(default=0.5)
    trees, _ = run_search(
        toy_problems(), "best_of_n", BestOfNConfig(n=7, selection=selection), ScriptedPolicy(chains), prm, VoteDomain()
    )
    assert selected(trees[0], selection).step == "s=5"
    assert prm.batches == ([] if selection == "majority" else [4])  # only complete answers are scored


def test_best_of_n_chains_advance_in_lockstep_across_problems_and_respect_n():
    problems = generate_problems(8, seed=4)
    policy = CountingPolicy(SymbolicCountdownPolicy(SymbolicPolicyConfig()))
    trees, runner = run_search(problems, "best_of_n", BestOfNConfig(n=5), policy, CountdownOraclePRM(), seed=0)
    assert policy.batches == [8, 40, 40]  # the roots, then 8 x 5 chains per step: three steps in three rounds
    for tree in trees:
        assert len(tree.root.children) == 5 and len(tree.nodes) == 16  # five chains of three steps
        assert tree.compute.prm_calls == 0


def test_best_of_n_under_a_budget_extends_the_first_chains_first():
    problems = generate_problems(1, seed=4)
    exact = SymbolicCountdownPolicy(SymbolicPolicyConfig())
    trees = countdown_run("best_of_n", BestOfNConfig(n=5, budget=Budget(nodes=12)), problems, policy=exact)
    tree = trees[0]
    lengths = [tree.nodes[_end(tree, c)].depth for c in tree.root.children]
    assert len(tree.nodes) == 12 and lengths == [3, 2, 2, 2, 2]


def _end(tree: SearchTree, node_id: int) -> int:
    while tree.nodes[node_id].children:
        node_id = tree.nodes[node_id].children[0]
    return node_id


# --- beam -------------------------------------------------------------------------------------------------------


def test_beam_keeps_the_top_k_by_score_per_level():
    # level 1: six children with these scores; level 2: three children each
    level1 = {"a": 0.2, "b": 0.9, "c": 0.5, "d": 0.9, "e": 0.1, "f": 0.7}
    children = {"": list(level1), **{k: [f"{k}1", f"{k}2", f"{k}3"] for k in level1}}
    scores = dict(level1)
    scores.update({"b1": 0.3, "b2": 0.8, "b3": 0.4, "d1": 0.85, "d2": 0.1, "d3": 0.8})
    policy = ScriptedPolicy(lambda steps: children.get(key(steps), []) if len(steps) < 2 else [])
    prm = TablePRM(scores, default=0.0)
    config = BeamConfig(beam_width=2, expand_width=6, max_depth=3)
    trees, _ = run_search(toy_problems(), "beam", config, policy, prm, ToyDomain())
    tree = trees[0]
    nodes = tree.nodes
    expanded = [nodes[node_id].step for _, node_id, _ in policy.requests]
    # the root, then the two best of level 1 (b and d tie at 0.9: creation order), then the best of level 2
    assert expanded[:3] == ["", "b", "d"]
    assert sorted(expanded[3:]) == ["b2", "d1"]
    assert [nodes[i].step for i in tree.trace] == ["", "b", "d", "d1", "b2"]
    assert policy.batches == [1, 2, 2]  # each level's beam in one round
    assert prm.batches == [6, 6]  # each level's children in one Score


def test_beam_never_keeps_terminal_children_and_stops_at_a_solution():
    children = {"": ["fail-x", "a", "b"], "a": ["goal-1"], "b": ["c"]}
    prm = TablePRM({"fail-x": 1.0, "a": 0.5, "b": 0.4, "goal-1": 0.2, "c": 0.9})
    policy = ScriptedPolicy(children)
    trees, _ = run_search(toy_problems(), "beam", BeamConfig(beam_width=2), policy, prm, ToyDomain())
    tree = trees[0]
    # a and b are expanded in one round; a, visited first, has the solution: the trace ends there, b never visited
    assert [tree.nodes[i].step for i in tree.trace] == ["", "a", "goal-1"]
    assert tree.solved and len(policy.requests) == 3


# --- BFS and DFS -------------------------------------------------------------------------------------------------

TREE = {"": ["a", "b"], "a": ["a1", "a2"], "b": ["b1", "b2"], "a/a1": ["fail-a1"]}


def order_run(search: str, heuristic=None, scores=None, **kw):
    """The visit order on TREE; without widening (asking again for more children: tests/test_widening.py)."""
    config = (BFSConfig if search == "bfs" else DFSConfig)(heuristic=heuristic, expand_width=2, widening=False, **kw)
    policy = ScriptedPolicy(TREE)
    prm = TablePRM(scores or {}, default=0.5)
    trees, _ = run_search(toy_problems(), search, config, policy, prm, ToyDomain())
    tree = trees[0]
    return [tree.nodes[i].step for i in tree.trace], prm


def test_bfs_and_dfs_orders_without_a_heuristic():
    bfs_order, prm = order_run("bfs")
    assert bfs_order == ["", "a", "b", "a1", "a2", "b1", "b2", "fail-a1"]
    assert prm.batches == []  # no heuristic: the PRM is never asked
    dfs_order, _ = order_run("dfs")
    assert dfs_order == ["", "a", "a1", "fail-a1", "a2", "b", "b1", "b2"]


def test_bfs_and_dfs_take_children_best_first_with_the_prm_heuristic():
    scores = {"a": 0.2, "b": 0.8, "a1": 0.1, "a2": 0.9, "b1": 0.3, "b2": 0.6}
    dfs_order, prm = order_run("dfs", "prm", scores)
    assert dfs_order == ["", "b", "b2", "b1", "a", "a2", "a1", "fail-a1"]
    assert prm.batches == [2, 2, 2, 1]  # each expansion's children, when there are any
    bfs_order, _ = order_run("bfs", "prm", scores)
    assert bfs_order == ["", "b", "a", "b2", "b1", "a2", "a1", "fail-a1"]


# Two orders of the same two steps reach [12, 5]; "9 + 9 = 18" is illegal (a dead node, which has no position).
TRANSPOSED = {
    "": ["2 + 3 = 5", "5 + 7 = 12", "9 + 9 = 18"],
    "2 + 3 = 5": ["5 + 7 = 12"],
    "5 + 7 = 12": ["2 + 3 = 5"],
    "2 + 3 = 5/5 + 7 = 12": ["5 * 12 = 60"],
    "5 + 7 = 12/2 + 3 = 5": ["5 * 12 = 60"],
}


# without widening: asked again, the scripted policy would repeat itself (merged steps, counted in duplicates)
TRANSPOSING = {
    "bfs": BFSConfig(expand_width=3, widening=False),
    "dfs": DFSConfig(expand_width=3, widening=False),
    "astar": AStarConfig(expand_width=3, widening=False),
    "beam": BeamConfig(beam_width=3, expand_width=3),
    "mcts": MCTSConfig(simulations=20, expand_width=3, widening=False),
}


@pytest.mark.parametrize("search", sorted(TRANSPOSING))
def test_every_tree_search_takes_a_transposed_position_up_once(search):
    policy = ScriptedPolicy(TRANSPOSED)
    problem = CountdownProblem("t", (2, 3, 5, 7), 61)
    tree = run_search([problem], search, TRANSPOSING[search], policy, TablePRM())[0][0]
    twins = [n for n in tree.nodes if n.state is not None and sorted(n.state) == [5, 12]]
    holder, merged = sorted(twins, key=lambda n: n.transposes is not None)
    assert holder.id in tree.trace and holder.expanded and holder.duplicates == 1 and holder.transposes is None
    assert merged.transposes == holder.id and merged.duplicates == 0
    assert merged.id not in tree.trace and not merged.expanded
    assert [r[1] for r in policy.requests].count(merged.id) == 0  # the policy is never asked about it
    assert sum(n.duplicates for n in tree.nodes) == 1
    assert [n.parent for n in tree.nodes if n.step == "5 * 12 = 60"] == [holder.id]  # searched from one node


def test_transpositions_need_the_same_position_not_the_same_numbers_in_order():
    # ToyDomain's positions are the steps taken in order: no two differ only in order, so nothing is merged
    policy = ScriptedPolicy({"": ["a", "b"], "a": ["b"], "b": ["a"]})
    config = BFSConfig(expand_width=2, widening=False)
    tree = run_search(toy_problems(), "bfs", config, policy, TablePRM(), ToyDomain())[0][0]
    assert len(tree.trace) == len(tree.nodes) == 5 and not any(n.duplicates for n in tree.nodes)


def test_bfs_and_dfs_stop_at_a_generated_solution_and_respect_the_node_budget():
    tree = {"": ["a", "b"], "a": ["x", "goal-a"], "b": ["goal-b"]}
    policy = ScriptedPolicy(tree)
    trees, _ = run_search(toy_problems(), "bfs", BFSConfig(expand_width=2), policy, TablePRM(), ToyDomain())
    assert [trees[0].nodes[i].step for i in trees[0].trace] == ["", "a", "goal-a"]
    trees, _ = run_search(
        toy_problems(),
        "dfs",
        DFSConfig(expand_width=2, budget=Budget(nodes=4)),
        ScriptedPolicy(TREE),
        TablePRM(),
        ToyDomain(),
    )
    assert len(trees[0].nodes) == 4


def test_unknown_options_are_rejected():
    problems = toy_problems()
    policy, prm, domain = ScriptedPolicy(TREE), TablePRM(), ToyDomain()
    with pytest.raises(ValueError, match="heuristic"):
        run_search(problems, "bfs", BFSConfig(heuristic="sum"), policy, prm, domain)
    with pytest.raises(ValueError, match="selection"):
        run_search(problems, "best_of_n", BestOfNConfig(selection="mode"), policy, prm, domain)


# --- rounds of expansions in the runner ------------------------------------------------------------------------


def test_runner_answers_a_round_of_expansions_in_order_and_batches_it_with_other_searches():
    def search(tree):
        first = yield Expand(tree.root, 2)
        kids = yield [Expand(first[1], 1), Expand(first[0], 2)]
        assert [[n.step for n in group] for group in kids] == [["b/x"], ["a/x", "a/y"]]
        empty = yield []
        assert empty == []
        yield Score([first[0]])
        tree.visit(tree.root)

    children = {"": ["a", "b"], "a": ["a/x", "a/y"], "b": ["b/x"]}
    policy = ScriptedPolicy(children)
    runner = Runner(ToyDomain(), policy, TablePRM(), search, "custom", concurrency=3)
    trees = list(runner.run(toy_problems(3)))
    assert len(trees) == 3 and policy.batches == [3, 6]
    assert all(t.compute.policy_calls == 3 and t.compute.nodes == 6 for t in trees)


@pytest.mark.parametrize("bad", ["not a request", [Score([])], "same node twice"])
def test_runner_rejects_what_a_search_may_not_yield(bad):
    def search(tree):
        yield [Expand(tree.root, 1), Expand(tree.root, 1)] if bad == "same node twice" else bad

    runner = Runner(ToyDomain(), ScriptedPolicy(), TablePRM(), search, "bad")
    with pytest.raises((TypeError, ValueError)):
        list(runner.run(toy_problems()))


def test_countdown_answers_of_the_new_strategies_are_deterministic():
    problems = [CountdownProblem("p", (4, 6, 8, 9), 24)]
    for search, config in NEW.items():
        name = search.split(":")[0]
        a = countdown_run(name, config, problems, seed=7)[0]
        b = countdown_run(name, config, problems, seed=7)[0]
        assert a.trace == b.trace and [n.step for n in a.nodes] == [n.step for n in b.nodes]


# --- through `metacot synth` ----------------------------------------------------------------------------------


@pytest.mark.parametrize("search", ["beam", "best_of_n", "bfs", "dfs"])
def test_synth_runs_every_new_strategy_and_writes_verified_traces(tmp_path, search):
    from metacot.cli import main

    out = tmp_path / search
    assert main(["synth", "--out", str(out), "--no-progress", "--num-problems", "40", "--search", search]) == 0
    trees = [orjson.loads(line) for line in (out / "trees" / "trees-00000.jsonl").read_bytes().splitlines()]
    assert len(trees) == 40 and all(t["search"] == search for t in trees)
    records = [orjson.loads(line) for line in (out / "traces" / "metacot.jsonl").read_bytes().splitlines()]
    assert len(records) == sum(t["solved"] for t in trees) > 0
    for record in records:
        problem = next(t["problem"] for t in trees if t["problem_id"] == record["problem_id"])
        problem = CountdownProblem(problem["id"], tuple(problem["numbers"]), problem["target"])
        assert verify_answer(problem, record["answer"])


def test_config_file_sets_strategy_sections_and_budgets(tmp_path):
    from metacot.cli import main

    config = tmp_path / "run.toml"
    config.write_text(
        '[search]\nstrategy = "dfs"\n[search.dfs]\nheuristic = "prm"\nexpand_width = 5\n'
        "[search.dfs.budget]\npolicy_calls = 4\n"
    )
    out = tmp_path / "run"
    assert main(["synth", "--config", str(config), "--out", str(out), "--no-progress", "--num-problems", "10"]) == 0
    trees = [orjson.loads(line) for line in (out / "trees" / "trees-00000.jsonl").read_bytes().splitlines()]
    assert all(t["compute"]["policy_calls"] <= 4 and t["compute"]["prm_calls"] >= 1 for t in trees)
    # the children proposed (a slip's correction, made by the domain, comes beside them: search.expand.repair)
    proposed = [[c for c in n["children"] if t["nodes"][c]["tokens"]] for t in trees for n in t["nodes"]]
    assert max(map(len, proposed)) == 5
    out2 = tmp_path / "run2"
    assert main(["synth", "--out", str(out2), "--no-progress", "--num-problems", "5", "--search", "beam"]) == 0
    assert (
        main(
            [
                "synth",
                "--out",
                str(tmp_path / "r3"),
                "--search",
                "bfs",
                "--max-nodes",
                "12",
                "--no-progress",
                "--num-problems",
                "10",
            ]
        )
        == 0
    )
    trees = [orjson.loads(line) for line in (tmp_path / "r3" / "trees" / "trees-00000.jsonl").read_bytes().splitlines()]
    assert max(len(t["nodes"]) - t["compute"].get("repairs", 0) for t in trees) == 12


def learned(seen: Transpositions, nodes: list, keys: list) -> None:
    """Answer the StateKeys request of seen.learn(nodes) with `keys`."""
    asking = seen.learn(nodes)
    request = next(asking)
    assert isinstance(request, StateKeys) and len(request.nodes) == len(keys)
    with pytest.raises(StopIteration):
        asking.send(keys)


def test_a_corrected_step_waits_for_its_numbers_holder_and_never_merges_into_itself():
    tree = SearchTree.with_root("t", {"id": "t", "numbers": [2, 3, 5, 7], "target": 61}, (2, 3, 5, 7))
    corrected = tree.add_child(tree.root, "2 + 3 = 5", state=(5, 5, 7))
    tree.corrections += [corrected.id, corrected.id]  # the correction of two slips: heard of twice
    seen = Transpositions(tree)
    learned(seen, [], [(5, 5, 7)])
    assert corrected.transposes is None and tree.transpositions_merged
    twin = tree.add_child(tree.root, "3 + 2 = 5", state=(5, 5, 7))
    learned(seen, [twin], [(5, 5, 7)])
    assert seen.take(twin) and twin.transposes is None  # taken up first: the waiting correction is merged into it
    assert corrected.transposes == twin.id and twin.duplicates == 1 and not seen.take(corrected)
