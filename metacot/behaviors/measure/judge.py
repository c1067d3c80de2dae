"""The LLM judge tagger: one prompt per (record, behaviour), a round's prompts in calls bounded by tokens, strict
answers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from metacot.backends.generate import Sampling, TextGenerator, prompt_lengths, token_batches
from metacot.backends.registry import backend_class
from metacot.behaviors.definitions import BEHAVIORS, DEFINITIONS, Behavior
from metacot.behaviors.measure.base import BehaviorCounts
from metacot.checks import at_least
from metacot.flags import flag
from metacot.linearize.layout import completion_of, prompt_of
from metacot.policy.config import BACKENDS, OpenAIPolicyConfig, TransformersPolicyConfig, VLLMPolicyConfig

JUDGE_BACKENDS = ("transformers", "vllm", "openai")  # the policy backends that generate text
MAX_COUNT = 10**6
COUNT_TAG = re.compile(r"<count>([^<]{0,32})</count>")
COUNT_OPEN = re.compile(r"<count>")

PROMPT = """\
You are grading a piece of reasoning for one cognitive behaviour.

Behaviour: {title}
Definition: {definition}
Examples of sentences that show it:
{examples}

Read the reasoning below and count how many distinct times it shows this behaviour. Count each instance once, \
however it is worded; answer 0 if it never does. Judge only this behaviour, not whether the reasoning is correct.
{problem}
<reasoning>
{completion}
</reasoning>

Answer with the count alone, in this form: <count>N</count> (for example <count>0</count> or <count>3</count>)."""


@dataclass
class JudgeConfig:
    """The LLM judge: which policy backend writes its answers (that backend's own section), and how it samples."""

    backend: str = flag("the judge's backend", "transformers", name="--judge-backend", choices=lambda: JUDGE_BACKENDS)
    max_tokens: int = flag("most tokens of one judge answer", 256, name="--judge-max-tokens")
    batch_tokens: int = flag(
        "most tokens in one judge call; a round's prompts are split into calls that fit: each prompt counted at "
        "the call's longest, plus --judge-max-tokens",
        16384,
        name="--judge-batch-tokens",
    )
    temperature: float = 0.0  # greedy: the same answers on a rerun
    seed: int = 0
    transformers: TransformersPolicyConfig = field(default_factory=TransformersPolicyConfig)
    vllm: VLLMPolicyConfig = field(default_factory=VLLMPolicyConfig)
    openai: OpenAIPolicyConfig = field(default_factory=OpenAIPolicyConfig)

    def __post_init__(self) -> None:
        if self.backend not in JUDGE_BACKENDS:
            raise ValueError(f"backend: unknown judge backend {self.backend!r}; known: {', '.join(JUDGE_BACKENDS)}")
        at_least("max_tokens", self.max_tokens, 1)
        at_least("batch_tokens", self.batch_tokens, 1)

    def sampling(self) -> Sampling:
        return Sampling(temperature=self.temperature, max_tokens=self.max_tokens, seed=self.seed)


def judge_prompt(behavior: Behavior, completion: str, problem: str | None = None) -> str:
    """The question for one (record, behaviour): the definition and examples, the problem if known, the text."""
    return PROMPT.format(
        title=behavior.name.replace("_", " "),
        definition=behavior.definition,
        examples="\n".join(f"- {example}" for example in behavior.examples),
        problem=f"\n<problem>\n{problem}\n</problem>\n" if problem else "",
        completion=completion,
    )


def parse_count(answer: str) -> int | None:
    """The count in `<count>N</count>`; None (unparsed) when there is none, when one is not a whole number, or when
    the answer gives different counts."""
    opened = len(COUNT_OPEN.findall(answer))
    found = COUNT_TAG.findall(answer)
    if not found or len(found) != opened:
        return None
    values = {text.strip() for text in found}
    if len(values) != 1:
        return None
    (value,) = values
    if not re.fullmatch(r"[0-9]{1,7}", value) or int(value) > MAX_COUNT:
        return None
    return int(value)


class JudgeTagger:
    """Asks an LLM, through any text generator, to count each behaviour; a `tag` call's prompts go in generate calls
    of at most `batch_tokens` tokens (token_batches, with the prompts' lengths from `lengths`)."""

    name = "llm"

    def __init__(
        self,
        generator: TextGenerator,
        sampling: Sampling,
        resume_key: str,
        lengths: Callable[[list[str]], list[int]],
        batch_tokens: int,
    ):
        self.generator, self.sampling = generator, sampling
        self.resume_key = resume_key  # results under another key (another judge) are asked again
        self.lengths, self.batch_tokens = lengths, batch_tokens
        self.calls = 0

    def tag(self, records: list[dict]) -> list[BehaviorCounts]:
        prompts = [
            judge_prompt(DEFINITIONS[name], completion_of(record) or "", prompt_of(record))
            for record in records
            for name in BEHAVIORS
        ]
        answers: list[str] = []
        for call in token_batches(self.lengths(prompts), self.sampling.max_tokens, self.batch_tokens):
            answers += self.generator.generate(prompts[call], self.sampling)
            self.calls += 1
        if len(answers) != len(prompts):
            raise RuntimeError(f"judge: the backend returned {len(answers)} answers for {len(prompts)} prompts")
        width = len(BEHAVIORS)
        return [
            BehaviorCounts({name: parse_count(a) for name, a in zip(BEHAVIORS, answers[i : i + width], strict=True)})
            for i in range(0, len(answers), width)
        ]


def make_judge(config: JudgeConfig) -> JudgeTagger:
    """The judge on its configured backend (a policy backend built without a domain: it only generates text)."""
    registry = {name: BACKENDS[name] for name in JUDGE_BACKENDS}
    section = getattr(config, config.backend)
    if not section.model:
        raise ValueError("judge: no model: --judge-model DIR (a local folder; for openai, the served name)")
    generator = backend_class("judge", registry, config.backend, None)(section)
    sampling = config.sampling()
    lengths = partial(prompt_lengths, generator.tokenizer, chat=sampling.chat)
    resume_key = f"llm:{config.backend}:{section.model}"
    return JudgeTagger(generator, sampling, resume_key, lengths, config.batch_tokens)
