"""vLLM's offline engine as the policy: one generate call per round, every request sampled from its own seed."""

from __future__ import annotations

from typing import Any

from metacot.policy.base import ExpandRequest, Proposal
from metacot.policy.config import VLLMPolicyConfig
from metacot.policy.llm import check_model_folder, cut_off, proposal, request_seed, sampling_config, split_steps
from metacot.policy.prompts import PromptBuilder, chat_renderer
from metacot.problems.base import Domain

SECTION = "policy.vllm"


class VLLMPolicy:
    """Proposes steps (and rollouts) with one `vllm.LLM.generate` call per round, all prompts together.

    Every request carries its own sampling seed (vLLM gives sample k of a request seed + k), so a request's
    proposals do not depend on which other requests share the call or in what order.
    Keep the policy alive as long as any vLLM engine of the process is used: deleting an engine tears down
    state that the others share.
    """

    def __init__(self, config: VLLMPolicyConfig, domain: Domain):
        config = sampling_config(config, domain, SECTION)
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

    def reset_prefix_cache(self) -> None:
        """Forget cached prompt prefixes (benchmarks compare runs from a cold cache)."""
        self.llm.reset_prefix_cache()

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        c = self.config
        return [
            cut_off(r.n)
            if samples is None
            else [proposal(s.text, len(s.token_ids), s.cumulative_logprob, s.finish_reason, SECTION) for s in samples]
            for r, samples in zip(requests, self._generate(requests, c.max_tokens, [c.step_delimiter]), strict=True)
        ]

    def rollout(self, requests: list[ExpandRequest]) -> list[list[list[str]]]:
        """Continuations to the end of the solution (EOS or rollout_max_tokens), each split into its steps."""
        delimiter = self.config.step_delimiter
        return [
            [[] for _ in range(r.n)] if samples is None else [split_steps(s.text, delimiter) for s in samples]
            for r, samples in zip(requests, self._generate(requests, self.config.rollout_max_tokens, None), strict=True)
        ]

    def _generate(self, requests: list[ExpandRequest], max_tokens: int, stop: list[str] | None) -> list[list | None]:
        """Each request's n completions in sample order, from one generate call; None for a prompt that leaves no
        room for a token (it would fail the whole call)."""
        from vllm.inputs import TokensPrompt

        texts = [self.prompts.prompt(r) for r in requests]
        # Token ids, not text: the chat template writes its own special tokens, and vLLM would add a BOS again.
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        fits = [i for i, prompt in enumerate(ids) if len(prompt) < self.llm.model_config.max_model_len]
        out: list[list | None] = [None] * len(requests)
        if fits:
            outputs = self.llm.generate(
                [TokensPrompt(prompt_token_ids=ids[i]) for i in fits],
                [self._sampling(requests[i], max_tokens, stop) for i in fits],
                use_tqdm=False,
            )
            for i, output in zip(fits, outputs, strict=True):
                out[i] = sorted(output.outputs, key=lambda s: s.index)
        return out

    def _sampling(self, request: ExpandRequest, max_tokens: int, stop: list[str] | None) -> Any:
        from vllm import SamplingParams

        return SamplingParams(
            n=request.n,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
            max_tokens=max_tokens,
            stop=stop,
            logprobs=0,  # only the sampled token's: enough for cumulative_logprob
            seed=request_seed(request.seed),
        )
