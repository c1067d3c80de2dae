"""The behaviour taggers: the heuristic against hand counts, the judge's prompts, parsing and batching, agreement."""

from __future__ import annotations

import time

import pytest
from behaviors_fixtures import FIXTURES, HELD_OUT, METACOT_STYLE

from metacot.backends.generate import Sampling, token_batches
from metacot.behaviors import BEHAVIORS, DEFINITIONS, BehaviorCounts
from metacot.behaviors.measure.base import COLUMNS, STRICT_BACKTRACKING
from metacot.behaviors.measure.heuristic import HeuristicTagger, count_behaviors, find_target, sentences
from metacot.behaviors.measure.judge import JudgeTagger, judge_prompt, parse_count
from metacot.behaviors.measure.report import agreement


def fixture_record(f) -> dict:
    return {"completion": f.completion, "target": f.target, "nums": list(f.nums)}


def presence_agreement(fixtures) -> dict[str, float]:
    got = HeuristicTagger().tag([fixture_record(f) for f in fixtures])
    want = [BehaviorCounts(dict(f.counts())) for f in fixtures]
    return agreement(got, want)


def test_the_fixtures_are_many_and_show_every_behaviour():
    assert len(FIXTURES) >= 25 and len(HELD_OUT) >= 10
    for name in BEHAVIORS:
        assert sum(f.counts()[name] > 0 for f in FIXTURES) >= 4
        assert sum(f.counts()[name] == 0 for f in FIXTURES) >= 3


def test_heuristic_agrees_with_hand_counts_on_presence_and_mostly_on_counts():
    assert all(share >= 0.95 for share in presence_agreement(FIXTURES).values())
    for name in BEHAVIORS:
        exact = sum(count_behaviors(f.completion, f.target)[name] == f.counts()[name] for f in FIXTURES)
        assert exact >= 0.9 * len(FIXTURES), name


def test_heuristic_on_held_out_phrasings_is_approximate_but_better_than_chance():
    shares = presence_agreement(HELD_OUT)
    assert sum(shares.values()) / len(shares) >= 0.7
    assert min(shares.values()) >= 0.5


def habits(counts: dict[str, int]) -> dict[str, int]:
    return {name: counts[name] for name in BEHAVIORS}


def test_heuristic_reads_metacot_formats_exactly():
    for f in METACOT_STYLE:
        assert habits(count_behaviors(f.completion, f.target)) == f.counts()


@pytest.mark.parametrize(
    ("text", "counted"),
    [
        ("Let me check another possibility. Going back to [3, 4].", {"backtracking": 1}),  # a jump: not strict
        ("I'll check the combinations one at a time. 4 + 6 = 10.", {}),
        ("1 * 1 = 1.", {}),
        ("2 + 2 = 4. 4 = 4, the target.", {"verification": 1}),
        ("Let me check: 3 * 8 = 24. Correct!", {"verification": 1}),
        ("12 is not 24. 30 is not 24.", {"verification": 2}),
        ("56 is not 24. Maybe 3 * 8 = 24.", {"verification": 1, "backtracking": 1, STRICT_BACKTRACKING: 1}),
        ("Maybe 3 * 8 = 24.", {}),
        ("24 / 2 = 12, so I need 12 from 7, 3 and 5.", {"backward_chaining": 1}),
        ("20 * 5 = 100, so I need 3 and 2 to make 1.", {"subgoal_setting": 1}),
        ("Then get to 24 by adding 4.", {}),
        ("First get to 12, then double it.", {"subgoal_setting": 1}),
    ],
)
def test_heuristic_sentences(text, counted):
    assert count_behaviors(text, 24 if "24" in text else 100) == dict.fromkeys(COLUMNS, 0) | counted


def test_stream_of_search_moves_count_only_jumps_out_of_the_subtree():
    log = "Moving to Node #0,1\nMoving to Node #0,1,0\nMoving to Node #0,2\nMoving to Node #0,2,3"
    assert count_behaviors(log)["backtracking"] == 1


def test_the_target_comes_from_the_record_the_prompt_or_the_chat():
    assert find_target({"target": 47}) == 47
    assert find_target({"prompt": "Using the numbers [1, 2], create an equation that equals 3."}) == 3
    assert find_target({"messages": [{"role": "user", "content": "The target is 24."}]}) == 24
    assert find_target({"completion": "Current State: 31:[12, 5, 3], Operations: []"}) == 31
    assert find_target({"completion": "no number here"}) is None


def test_heuristic_is_linear_on_hostile_text():
    """About 5 microseconds a character whatever the text (measured linear up to 1 MB); a quadratic pattern would
    take minutes on these 50 kB."""
    hostile = [
        "1" * 50_000,
        "1 = " * 12_000,
        ", not " * 8_000,
        "to reach 24 " * 4_000,
        "need " * 10_000 + "to make",
        "is " * 15_000 + "x",
        "first " * 8_000,
        ("a" * 50 + " ") * 1_000,
    ]
    for text in hostile:
        start = time.perf_counter()
        count_behaviors(text, 24)
        assert time.perf_counter() - start < 2.0, text[:20]
    assert sentences("a.  b\n\nc") == ["a.", "b", "c"]


# --- the LLM judge, behind any text generator ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "count"),
    [
        ("<count>2</count>", 2),
        ("Reasoning first. <count> 0 </count>", 0),
        ("<count>3</count> and again <count>3</count>", 3),
        ("<count>3</count> or <count>4</count>", None),
        ("<count>two</count>", None),
        ("<count>-1</count>", None),
        ("<count>2.5</count>", None),
        ("<count>²</count>", None),
        ("<count>2", None),
        ("<count>2</count> <count>", None),
        ("2", None),
        ("", None),
        ("<count>99999999</count>", None),
    ],
)
def test_judge_answers_are_parsed_strictly(answer, count):
    assert parse_count(answer) == count


def test_the_prompt_holds_the_definition_examples_problem_and_text():
    behavior = DEFINITIONS["backward_chaining"]
    prompt = judge_prompt(behavior, "24 / 2 = 12, so I need 12.", "Make 24 from [2, 12].")
    assert behavior.definition in prompt and all(example in prompt for example in behavior.examples)
    assert "Make 24 from [2, 12]." in prompt and "24 / 2 = 12, so I need 12." in prompt
    assert "<count>N</count>" in prompt and "backward chaining" in prompt
    assert "<problem>" not in judge_prompt(behavior, "text")


class ScriptedJudge:
    """A text generator that answers by the behaviour named in each prompt, recording its calls."""

    def __init__(self, answers: dict[str, str]):
        self.answers, self.calls = answers, []

    def generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
        self.calls.append(prompts)
        return [next(a for name, a in self.answers.items() if f"Behaviour: {name}" in p) for p in prompts]


def test_the_judge_asks_every_behaviour_of_every_record_in_one_call():
    generator = ScriptedJudge(
        {
            "verification": "<count>2</count>",
            "backtracking": "<count>1</count>",
            "subgoal setting": "I think none.",
            "backward chaining": "<count>0</count>",
        }
    )
    tagger = JudgeTagger(generator, Sampling(temperature=0.0), "llm:test", words, 10**9)
    records = [{"completion": f"text {i}", "prompt": "Make 24."} for i in range(5)]
    counts = tagger.tag(records)
    assert len(generator.calls) == 1 and len(generator.calls[0]) == 5 * len(BEHAVIORS)
    assert all(any(f"text {i}" in p for p in generator.calls[0]) for i in range(5))
    expected = {"verification": 2, "backtracking": 1, "subgoal_setting": None, "backward_chaining": 0}
    assert [c.counts for c in counts] == [expected] * 5
    assert counts[0].unparsed == ["subgoal_setting"] and tagger.tag([]) == [] and len(generator.calls) == 1


def words(prompts: list[str]) -> list[int]:
    return [len(p.split()) for p in prompts]


def test_the_judge_splits_a_round_into_calls_within_its_token_budget():
    generator = ScriptedJudge({name.replace("_", " "): f"<count>{i}</count>" for i, name in enumerate(BEHAVIORS)})
    sampling = Sampling(temperature=0.0, max_tokens=50)
    records = [{"completion": "word " * (10 * i), "prompt": "Make 24."} for i in range(12)]
    longest = max(words([judge_prompt(DEFINITIONS["verification"], r["completion"], "Make 24.") for r in records]))
    budget = 3 * (longest + 50)
    counts = JudgeTagger(generator, sampling, "llm:test", words, budget).tag(records)
    assert [c.counts for c in counts] == [{name: i for i, name in enumerate(BEHAVIORS)}] * 12  # in order
    assert len(generator.calls) > 1 and sum(map(len, generator.calls)) == 12 * len(BEHAVIORS)
    assert all(len(call) * (max(words(call)) + 50) <= budget for call in generator.calls)
    alone = ScriptedJudge(generator.answers)
    JudgeTagger(alone, sampling, "llm:test", words, 1).tag(records[:2])  # every prompt over the budget: one a call
    assert [len(call) for call in alone.calls] == [1] * 2 * len(BEHAVIORS)


def test_token_batches_are_consecutive_and_a_prompt_over_the_budget_goes_alone():
    batches = list(token_batches([10, 10, 30, 500, 5, 5, 5], new_tokens=10, budget=80))
    assert batches == [slice(0, 2), slice(2, 3), slice(3, 4), slice(4, 7)]
    assert list(token_batches([], 10, 80)) == []


def test_agreement_is_the_share_of_records_agreeing_on_presence_leaving_out_unparsed():
    a = [BehaviorCounts({"verification": 1, "backtracking": 0, "subgoal_setting": 2, "backward_chaining": None})] * 2
    b = [
        BehaviorCounts({"verification": 3, "backtracking": 0, "subgoal_setting": 0, "backward_chaining": 1}),
        BehaviorCounts({"verification": 0, "backtracking": None, "subgoal_setting": 0, "backward_chaining": 1}),
    ]
    shares = agreement(a, b)
    assert shares["verification"] == 0.5 and shares["backtracking"] == 1.0 and shares["subgoal_setting"] == 0.0
    assert shares["backward_chaining"] != shares["backward_chaining"]  # NaN: nothing to compare
    with pytest.raises(ValueError, match="2 records against 1"):
        agreement(a, b[:1])
