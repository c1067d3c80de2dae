"""vLLM's offline engine as the policy: one generate call per round, every request sampled from its own seed."""

from __future__ import annotations

from typing import Any

from metacot.backends.engine import make_llm
from metacot.backends.generate import Sampling, chat_renderer, model_text, prompt_seeds, request_seed
from metacot.policy.base import ExpandRequest, Proposal, Rollout
from metacot.policy.config import VLLMPolicyConfig
from metacot.policy.llm import cut_off, proposal, sampling_config, split_steps
from metacot.policy.prompts import PromptBuilder
from metacot.problems.base import Domain

SECTION = "policy.vllm"


class VLLMPolicy:
    """Proposes steps (and rollouts, and texts) with one `vllm.LLM.generate` call per round, all prompts together.

    Every request carries its own sampling seed (vLLM gives sample k of a request seed + k), so a request's
    proposals do not depend on which other requests share the call or in what order.
    Keep the policy alive as long as any vLLM engine of the process is used: deleting an engine tears down
    state that the others share.
    """

    def __init__(self, config: VLLMPolicyConfig, domain: Domain | None = None):
        config, self.delimiter = sampling_config(config, domain, SECTION)
        self.config = config
        chunked = config.enable_chunked_prefill
        if chunked is None:
            from vllm.platforms import current_platform

            chunked = False if current_platform.is_cpu() else None
        self.llm = make_llm(
            config, SECTION, enable_prefix_caching=config.enable_prefix_caching, enable_chunked_prefill=chunked
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.prompts = PromptBuilder(domain, chat_renderer(self.tokenizer), self.delimiter)

    def reset_prefix_cache(self) -> None:
        """Forget cached prompt prefixes (benchmarks compare runs from a cold cache)."""
        self.llm.reset_prefix_cache()

    def propose(self, requests: list[ExpandRequest]) -> list[list[Proposal]]:
        c = self.config
        return [
            cut_off(r.n)
            if samples is None
            else [proposal(s.text, len(s.token_ids), s.cumulative_logprob, s.finish_reason, SECTION) for s in samples]
            for r, samples in zip(requests, self._requests(requests, c.max_tokens, [self.delimiter]), strict=True)
        ]

    def rollout(self, requests: list[ExpandRequest]) -> list[list[Rollout]]:
        """Continuations to the end of the solution (EOS or rollout_max_tokens), each split into its steps."""
        delimiter = self.delimiter
        return [
            [Rollout() for _ in range(r.n)]
            if samples is None
            else [Rollout(split_steps(s.text, delimiter), len(s.token_ids)) for s in samples]
            for r, samples in zip(requests, self._requests(requests, self.config.rollout_max_tokens, None), strict=True)
        ]

    def generate(self, prompts: list[str], sampling: Sampling) -> list[str]:
        """One text per prompt from one generate call, each prompt sampled from its own seed."""
        texts = [model_text(self.tokenizer, p, sampling.chat) for p in prompts]
        params = [
            self._params(1, sampling.temperature, sampling.top_p, sampling.max_tokens, list(sampling.stop), seed)
            for seed in prompt_seeds(prompts, sampling.seed)
        ]
        outputs = self._generate(texts, params)
        too_long = [i for i, samples in enumerate(outputs) if samples is None]
        if too_long:
            limit = self.llm.model_config.max_model_len
            raise ValueError(f"{SECTION}: prompts {too_long} leave no room for a token in max_model_len {limit}")
        return [samples[0].text for samples in outputs if samples is not None]

    def _requests(self, requests: list[ExpandRequest], max_tokens: int, stop: list[str] | None) -> list[list | None]:
        c = self.config
        params = [self._params(r.n, c.temperature, c.top_p, max_tokens, stop, r.seed) for r in requests]
        return self._generate([self.prompts.prompt(r) for r in requests], params)

    def _generate(self, texts: list[str], params: list[Any]) -> list[list | None]:
        """Each prompt's completions in sample order, from one generate call; None for a prompt that leaves no
        room for a token (it would fail the whole call). No prompt asks for more tokens than max_model_len leaves."""
        from vllm.inputs import TokensPrompt

        # Token ids, not text: the texts write their own special tokens, and vLLM would add a BOS again.
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        context = self.llm.model_config.max_model_len
        fits = [i for i, prompt in enumerate(ids) if len(prompt) < context]
        for i in fits:
            params[i].max_tokens = min(params[i].max_tokens, context - len(ids[i]))
        out: list[list | None] = [None] * len(texts)
        if fits:
            outputs = self.llm.generate(
                [TokensPrompt(prompt_token_ids=ids[i]) for i in fits], [params[i] for i in fits], use_tqdm=False
            )
            for i, output in zip(fits, outputs, strict=True):
                out[i] = sorted(output.outputs, key=lambda s: s.index)
        return out

    @staticmethod
    def _params(n: int, temperature: float, top_p: float, max_tokens: int, stop: list[str] | None, seed: int) -> Any:
        from vllm import SamplingParams

        return SamplingParams(
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop or None,
            logprobs=0,  # only the sampled token's: enough for cumulative_logprob
            seed=request_seed(seed),
        )
