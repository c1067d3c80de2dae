"""vLLM's pooling runner as the PRM: Math-Shepherd step tags or a Qwen2.5-Math-PRM style separator head."""

from __future__ import annotations

from metacot.backends.engine import make_llm
from metacot.backends.models import check_model_folder, load_tokenizer
from metacot.prm.base import ScoreRequest
from metacot.prm.config import VLLMPRMConfig
from metacot.prm.readout import ReaderPRM, Readout
from metacot.problems.base import Domain

SECTION = "prm.vllm"


class VLLMPRM(ReaderPRM):
    """Reads every path of a round with one `vllm.LLM.encode` call (task token_classify). Keep it alive as long
    as any vLLM engine of the process is used: deleting an engine tears down state that the others share."""

    def __init__(self, config: VLLMPRMConfig, domain: Domain):
        check_model_folder(config.model, SECTION)
        from vllm.config import PoolerConfig

        self.reader = Readout(load_tokenizer(config.model, f"{SECTION}.model"), config, domain, SECTION)
        args = self.reader.engine_args()
        args["pooler_config"] = PoolerConfig(**args["pooler_config"])
        self.llm = make_llm(config, SECTION, **args)

    def _rows(self, requests: list[ScoreRequest]) -> list[list[list[float]]]:
        if not requests:
            return []
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=ids) for ids in self.reader.token_ids(requests)]
        outputs = self.llm.encode(prompts, pooling_task="token_classify", use_tqdm=False)
        return [out.outputs.data.float().tolist() for out in outputs]
