"""A backend that fails mid-run: the searches it fails are recorded as failed, with the reason; the run goes on."""

from __future__ import annotations

from metacot.policy.symbolic import SymbolicCountdownPolicy
from metacot.prm.oracle import CountdownOraclePRM
from metacot.problems.countdown import CountdownDomain, generate_problems
from metacot.search import MCTSConfig, Runner, make_search


class BrokenFor(SymbolicCountdownPolicy):
    """Fails every call that includes a request of the poisoned problem."""

    def __init__(self, poisoned: str):
        super().__init__()
        self.poisoned, self.calls = poisoned, 0

    def propose(self, requests):
        self.calls += 1
        if any(r.problem.id == self.poisoned for r in requests):
            raise ConnectionError("server said 503")
        return super().propose(requests)


class BrokenPRM(CountdownOraclePRM):
    def score(self, requests):
        if any(r.problem.id.endswith("3") for r in requests):
            raise TimeoutError("PRM timed out")
        return super().score(requests)


def run(policy, prm, problems):
    runner = Runner(
        CountdownDomain(), policy, prm, make_search("mcts", MCTSConfig(simulations=32)), "mcts", concurrency=8
    )
    return list(runner.run(problems))


def test_a_failing_policy_request_fails_only_its_search():
    problems = generate_problems(12, seed=4)
    healthy = run(SymbolicCountdownPolicy(), CountdownOraclePRM(), problems)
    trees = run(BrokenFor(problems[5].id), CountdownOraclePRM(), problems)
    assert [t.problem_id for t in trees] == [p.id for p in problems]
    assert trees[5].failed == "policy: ConnectionError: server said 503"
    for i, (tree, reference) in enumerate(zip(trees, healthy, strict=True)):
        if i != 5:
            assert tree.failed is None
            assert tree.to_dict()["nodes"] == reference.to_dict()["nodes"]  # the others never noticed


def test_a_failing_prm_fails_its_searches_and_the_run_finishes():
    problems = generate_problems(12, seed=4)
    trees = run(SymbolicCountdownPolicy(), BrokenPRM(), problems)
    failed = [t.problem_id for t in trees if t.failed]
    assert failed == [p.id for p in problems if p.id.endswith("3")]
    assert all(t.failed.startswith("prm: TimeoutError") for t in trees if t.failed)
    assert sum(t.solved for t in trees if not t.failed) > 0


def test_identical_sibling_steps_are_merged_and_counted():
    from metacot.policy.base import Proposal
    from metacot.search.expand import grow
    from metacot.tree import SearchTree

    domain = CountdownDomain()
    problem = generate_problems(1, seed=0)[0]
    tree = SearchTree.with_root(problem.id, domain.problem_to_dict(problem), problem.numbers)
    a, b = problem.numbers[:2]
    step = f"{a} + {b} = {a + b}"
    first = grow(domain, problem, tree, tree.root, [Proposal(step), Proposal(step), Proposal(f"{a} * {b} = {a * b}")])
    assert [c.step for c in first] == [step, f"{a} * {b} = {a * b}"] and first[0].duplicates == 1
    again = grow(domain, problem, tree, tree.root, [Proposal(step)])
    assert again == [] and first[0].duplicates == 2 and tree.compute.proposals == 4 and len(tree.nodes) == 3
