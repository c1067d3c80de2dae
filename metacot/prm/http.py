"""A vLLM pooling server as the PRM: one POST /pooling per round, read like the offline vLLM PRM."""

from __future__ import annotations

import json
from typing import cast

from metacot.backends.models import load_tokenizer
from metacot.backends.server import Server
from metacot.prm.base import ScoreRequest
from metacot.prm.config import HTTPPRMConfig
from metacot.prm.readout import ReaderPRM, Readout
from metacot.problems.base import Domain

SECTION = "prm.http"


def server_flags(reader: Readout) -> list[str]:
    """The `python -m vllm.entrypoints.openai.api_server` flags that make a pooling server read this style."""
    flags = []
    for key, value in reader.engine_args().items():
        flags += [f"--{key.replace('_', '-')}", value if isinstance(value, str) else json.dumps(value)]
    return flags


class HTTPPRM(ReaderPRM):
    """Sends every path of a round as token ids in one POST /pooling (task token_classify); the server's
    pooler config must put its step_tag_id on this config's marker (see `server_flags`)."""

    def __init__(self, config: HTTPPRMConfig, domain: Domain):
        setting = f"{SECTION}.tokenizer" if config.tokenizer else f"{SECTION}.model"
        self.reader = Readout(load_tokenizer(config.tokenizer or config.model, setting), config, domain, SECTION)
        self.config = config
        self.server = Server.from_settings(SECTION, config)
        self.server.check_model(config.model, "/v1/models")

    def _rows(self, requests: list[ScoreRequest]) -> list[list[list[float]]]:
        if not requests:
            return []
        body = {"model": self.config.model, "input": self.reader.token_ids(requests), "task": "token_classify"}
        reply = cast(dict, self.server.call(lambda: self.server.client.post("/pooling", body=body, cast_to=object)))
        data = sorted(reply["data"], key=lambda d: d["index"])
        if len(data) != len(requests):
            raise RuntimeError(f"{SECTION}: {len(data)} results for {len(requests)} paths from {self.config.base_url}")
        return [d["data"] for d in data]
