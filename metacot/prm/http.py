"""A vLLM pooling server (or several) as the PRM: POST /pooling per round, read like the offline vLLM PRM."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
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
    """Sends the paths of a round as token ids in POST /pooling (task token_classify): one request, or with several
    servers one per server, the paths split between them in order (each path is scored on its own, so the split
    does not change a score). The server's pooler config must put its step_tag_id on this config's marker (see
    `server_flags`)."""

    def __init__(self, config: HTTPPRMConfig, domain: Domain):
        setting = f"{SECTION}.tokenizer" if config.tokenizer else f"{SECTION}.model"
        self.reader = Readout(load_tokenizer(config.tokenizer or config.model, setting), config, domain, SECTION)
        self.config = config
        self.server = Server.from_settings(SECTION, config)
        self.server.check_model(config.model, "/v1/models")
        self.pool = ThreadPoolExecutor(max_workers=len(self.server.endpoints), thread_name_prefix="metacot-prm-http")

    def _rows(self, requests: list[ScoreRequest]) -> list[list[list[float]]]:
        if not requests:
            return []
        ids = self.reader.token_ids(requests)
        size = -(-len(ids) // len(self.server.endpoints))  # the paths per request, rounded up
        parts = [ids[start : start + size] for start in range(0, len(ids), size)]
        return [rows for part in self.pool.map(self._pooled, parts) for rows in part]

    def _pooled(self, ids: list[list[int]]) -> list[list[list[float]]]:
        """One POST /pooling: each path's rows, in order."""
        body = {"model": self.config.model, "input": ids, "task": "token_classify"}
        reply = cast(dict, self.server.call(lambda client: client.post("/pooling", body=body, cast_to=object)))
        data = sorted(reply["data"], key=lambda d: d["index"])
        if len(data) != len(ids):
            raise RuntimeError(f"{SECTION}: {len(data)} results for {len(ids)} paths from {self.server.base_url}")
        return [d["data"] for d in data]
