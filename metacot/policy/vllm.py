"""vLLM's offline engine as the policy: one generate call per round, every request sampled from its own seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metacot.policy.base import ExpandRequest, Proposal
from metacot.policy.prompts import PromptBuilder, chat_renderer
from metacot.problems.base import Domain

SECTION = "policy.vllm"


@dataclass
class VLLMPolicyConfig:
    model: str = ""  # a local model folder (config.json, weights, tokenizer); never fetched from a hub
    dtype: str = "auto"  # "float32" on CPUs
    max_model_len: int | None = None  # None: the model's own context length
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 32  # per step: a step cut off here has finish_reason "length" and becomes a dead node
    step_delimiter: str = "\n"
    enable_prefix_caching: bool = True  # a child's prompt extends its parent's, so cached prefixes are reused
    # None: vLLM's default, except off on CPUs, where vLLM 0.32 crashes ("CPU Generator does not use offset")
    # when the prompt of a seeded request is split across engine steps, as happens in large batches.
    enable_chunked_prefill: bool | None = None
    gpu_memory_utilization: float = 0.9
    enforce_eager: bool = False  # True on CPUs: CUDA graphs and compilation make start-up minutes long
    seed: int = 0  # the engine's seed; each request is sampled from its own seed (ExpandRequest.seed)
    engine_kwargs: dict[str, Any] = field(default_factory=dict)  # passed on to vllm.LLM as they are


def check_model_folder(model: str, section: str) -> None:
    """A ValueError naming the setting unless `model` is a local folder (engines would try a hub instead)."""
    if not model or not Path(model).is_dir():
        raise ValueError(f"{section}.model: no model at '{model}'")


def check_sampling(temperature: float, top_p: float, max_tokens: int, step_delimiter: str, section: str) -> None:
    if temperature <= 0 or not 0 < top_p <= 1:
        raise ValueError(f"{section}: need temperature > 0 and 0 < top_p <= 1 (this policy always samples)")
    if max_tokens < 1:
        raise ValueError(f"{section}.max_tokens: must be at least 1, got {max_tokens}")
    if not step_delimiter:
        raise ValueError(f"{section}.step_delimiter: must not be empty")


def request_seed(seed: int) -> int:
    """A request's seed folded into a signed 64-bit integer, the range engines and servers accept."""
    return seed & (2**63 - 1)


def proposal(text: str, tokens: int, logprob: float | None, finish_reason: str | None, section: str) -> Proposal:
    """One completion as a Proposal. The engine has already cut the text before the stop string (the delimiter);
    "stop" also covers an end-of-sequence token. Any other reason (an aborted request) is an error."""
    if finish_reason not in ("stop", "length"):
        raise RuntimeError(f"{section}: a completion ended with finish_reason {finish_reason!r}")
    return Proposal(text=text, tokens=tokens, logprob=logprob, finish_reason=finish_reason)


class VLLMPolicy:
    """Proposes steps with one `vllm.LLM.generate` call per round, all prompts together.

    Every request carries its own sampling seed (vLLM gives sample k of a request seed + k), so a request's
    proposals do not depend on which other requests share the call or in what order.
    Keep the policy alive as long as any vLLM engine of the process is used: deleting an engine tears down
    state that the others share.
    """

    def __init__(self, config: VLLMPolicyConfig, domain: Domain):
        check_sampling(config.temperature, config.top_p, config.max_tokens, config.step_delimiter, SECTION)
        check_model_folder(config.model, SECTION)
        from vllm import LLM
        from vllm.platforms import current_platform

        self.config = config
        chunked = config.enable_chunked_prefill
        self.llm = LLM(
            model=config.model,
            dtype=config.dtype,
            max_model_len=config.max_model_len,
            enable_prefix_caching=config.enable_prefix_caching,
            enable_chunked_prefill=False if chunked is None and current_platform.is_cpu() else chunked,
            gpu_memory_utilization=config.gpu_memory_utilization,
            enforce_eager=config.enforce_eager,
            seed=config.seed,
            **config.engine_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.prompts = PromptBuilder(domain, chat_renderer(self.tokenizer), config.step_delimiter)

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        from vllm.inputs import TokensPrompt

        texts = [self.prompts.prompt(r) for r in requests]
        # Token ids, not text: the chat template writes its own special tokens, and vLLM would add a BOS again.
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        # A prompt that leaves no room for one more token would fail the whole call: its steps are cut off at once.
        fits = [i for i, prompt in enumerate(ids) if len(prompt) < self.llm.model_config.max_model_len]
        out = [[Proposal(text="", tokens=0, finish_reason="length") for _ in range(r.n)] for r in requests]
        if fits:
            outputs = self.llm.generate(
                [TokensPrompt(prompt_token_ids=ids[i]) for i in fits],
                [self._sampling(requests[i]) for i in fits],
                use_tqdm=False,
            )
            for i, output in zip(fits, outputs, strict=True):
                out[i] = [
                    proposal(c.text, len(c.token_ids), c.cumulative_logprob, c.finish_reason, SECTION)
                    for c in sorted(output.outputs, key=lambda c: c.index)
                ]
        return out

    def _sampling(self, request: ExpandRequest) -> Any:
        from vllm import SamplingParams

        c = self.config
        return SamplingParams(
            n=request.n,
            temperature=c.temperature,
            top_p=c.top_p,
            max_tokens=c.max_tokens,
            stop=[c.step_delimiter],
            logprobs=0,  # only the sampled token's: enough for cumulative_logprob
            seed=request_seed(request.seed),
        )
