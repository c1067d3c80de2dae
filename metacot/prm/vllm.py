"""vLLM's pooling runner as the PRM: Math-Shepherd step tags or a Qwen2.5-Math-PRM style separator head."""

from __future__ import annotations

from typing import Any

from metacot.policy.llm import check_model_folder
from metacot.prm.base import ScoreRequest
from metacot.prm.config import VLLMPRMConfig
from metacot.prm.steps import AGGREGATES, STYLES, PathFormat, check_marker_separate, single_token_id
from metacot.problems.base import Domain

SECTION = "prm.vllm"


class PathReader:
    """What a PRM client needs on its side, whatever runs the model: the path's token ids with a marker after
    each step, the pooling settings that read the model at those markers, and the per-marker rows -> one score.

    `config` is a VLLMPRMConfig or any config with the same style, marker, token and aggregate fields.
    """

    def __init__(self, tokenizer: Any, config: Any, domain: Domain, section: str):
        if config.style not in STYLES:
            raise ValueError(f"{section}.style: expected one of {', '.join(STYLES)}, got {config.style!r}")
        if config.aggregate not in AGGREGATES:
            raise ValueError(f"{section}.aggregate: expected one of {', '.join(AGGREGATES)}, got {config.aggregate!r}")
        self.domain, self.section = domain, section
        self.tagged = config.style == "step-tag"
        self.aggregate = AGGREGATES[config.aggregate]
        setting, marker = (
            (f"{section}.step_tag", config.step_tag) if self.tagged else (f"{section}.separator", config.separator)
        )
        self.marker_id = single_token_id(tokenizer, marker, setting)
        self.format = PathFormat(tokenizer, config.style, marker, config.system_prompt)
        check_marker_separate(self.format, self.marker_id, setting)
        # vLLM turns the LM head's rows for [bad, good] into a 1-label classifier: sigmoid(good - bad) = P(good).
        self.classifier_tokens = (
            tokenizer.convert_ids_to_tokens(
                [
                    single_token_id(tokenizer, config.bad_token, f"{section}.bad_token"),
                    single_token_id(tokenizer, config.good_token, f"{section}.good_token"),
                ]
            )
            if self.tagged
            else None
        )

    def engine_args(self) -> dict[str, Any]:
        """The vllm.LLM arguments (also the API server's flags) that make the model answer token_classify
        requests with one row per marker."""
        if self.tagged:
            return {
                "runner": "pooling",
                "convert": "classify",
                "hf_overrides": {"classifier_from_token": self.classifier_tokens, "method": "from_2_way_softmax"},
                "pooler_config": {"task": "token_classify", "tok_pooling_type": "STEP", "step_tag_id": self.marker_id},
            }
        return {"runner": "pooling", "pooler_config": {"tok_pooling_type": "STEP", "step_tag_id": self.marker_id}}

    def token_ids(self, requests: list[ScoreRequest]) -> list[list[int]]:
        for r in requests:
            if not r.steps:
                raise ValueError(f"{self.section}: node {r.node.id} of {r.tree.problem_id!r} has no step to score")
        return [self.format.encode(self.domain.prompt(r.problem), r.steps) for r in requests]

    def step_scores(self, requests: list[ScoreRequest], rows: list[list[list[float]]]) -> list[list[float]]:
        """The probability that each step is good, from the model's rows at the markers: P(good) in the only
        column (step-tag), or class 1 of two (separator-head)."""
        columns = 1 if self.tagged else 2
        out = []
        for request, marker_rows in zip(requests, rows, strict=True):
            if len(marker_rows) != len(request.steps):
                raise ValueError(
                    f"{self.section}: {len(marker_rows)} markers for {len(request.steps)} steps: the marker merged "
                    f"with a step of node {request.node.id} of {request.tree.problem_id!r}"
                )
            if any(len(row) != columns for row in marker_rows):
                raise ValueError(
                    f"{self.section}.model: expected {columns} value(s) per marker for style "
                    f"{'step-tag' if self.tagged else 'separator-head'}, got {len(marker_rows[0])}: "
                    "is the model (or the server's --runner/--convert/--pooler-config) set up for this style?"
                )
            out.append([row[-1] for row in marker_rows])
        return out

    def scores(self, requests: list[ScoreRequest], rows: list[list[list[float]]]) -> list[float]:
        return [self.aggregate(s) for s in self.step_scores(requests, rows)]


class ReaderPRM:
    """A PRM whose model gives a row of class scores at each step marker, read by a PathReader; subclasses say
    where the rows come from (an engine, a server)."""

    reader: PathReader

    def score(self, requests: list[ScoreRequest]) -> list[float]:
        return self.reader.scores(requests, self._rows(requests))

    def step_scores(self, requests: list[ScoreRequest]) -> list[list[float]]:
        """The probability that each step of each path is good."""
        return self.reader.step_scores(requests, self._rows(requests))

    def _rows(self, requests: list[ScoreRequest]) -> list[list[list[float]]]:
        raise NotImplementedError


class VLLMPRM(ReaderPRM):
    """Scores every path of a round with one `vllm.LLM.encode` call (task token_classify) and aggregates
    each path's step scores like the transformers PRM. Keep it alive as long as any vLLM engine of the
    process is used: deleting an engine tears down state that the others share."""

    def __init__(self, config: VLLMPRMConfig, domain: Domain):
        check_model_folder(config.model, SECTION)
        from transformers import AutoTokenizer
        from vllm import LLM
        from vllm.config import PoolerConfig

        tokenizer = AutoTokenizer.from_pretrained(config.model, local_files_only=True)
        self.reader = PathReader(tokenizer, config, domain, SECTION)
        args = self.reader.engine_args()
        args["pooler_config"] = PoolerConfig(**args["pooler_config"])
        self.llm = LLM(
            model=config.model,
            dtype=config.dtype,
            max_model_len=config.max_model_len,
            gpu_memory_utilization=config.gpu_memory_utilization,
            enforce_eager=config.enforce_eager,
            seed=config.seed,
            **args,
            **config.engine_kwargs,
        )

    def _rows(self, requests: list[ScoreRequest]) -> list[list[list[float]]]:
        if not requests:
            return []
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=ids) for ids in self.reader.token_ids(requests)]
        outputs = self.llm.encode(prompts, pooling_task="token_classify", use_tqdm=False)
        return [out.outputs.data.float().tolist() for out in outputs]
