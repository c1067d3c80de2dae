"""The [behaviors] section, behaviour-conditioned inference (BCI): where a run's behaviours come from and how each
problem's are chosen, and what turns them into the conditioning its search carries. metacot.behaviors builds it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from metacot.backends.request import Conditioning
from metacot.checks import at_least
from metacot.flags import flag
from metacot.problems.base import Domain

MODES = ("features", "topic", "embedding", "problem")
EMBEDDERS = ("tfidf", "sentence-transformers", "openai")


@dataclass
class BehaviorsConfig:
    """[behaviors]: condition the policy on behaviours retrieved from a handbook (BCI). Off without a handbook."""

    handbook: str | None = flag(
        "a behaviour handbook (JSONL), or 'builtin' for the domain's shipped one; off when unset",
        None,
        name="--behaviors",
        metavar="FILE",
    )
    retrieve: str = flag(
        "how behaviours are chosen: features (those tagged with what the problem's own numbers offer, the domain's "
        "features, then its topic), topic (a problem field, tags), embedding (of the prompt and its features), or "
        "problem (those distilled from the problem itself, as `metacot improve` does)",
        "features",
        choices=lambda: MODES,
    )
    top_k: int = flag("behaviours per problem", 3, name="--top-k")
    embedder: str = field(
        default="tfidf",
        metadata={"help": "\"tfidf\", \"sentence-transformers\" (a local folder in embedder_model) or \"openai\""},
    )
    embedder_model: str = field(
        default="", metadata={"help": "the sentence-transformers folder, or the served embedding model's name"}
    )
    base_url: str = field(
        default="http://127.0.0.1:8000/v1",
        metadata={"help": "the OpenAI-compatible server of the openai embedder (its /v1/embeddings)"},
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "the environment variable that holds the API key (never the key itself)"},
    )

    def __post_init__(self) -> None:
        at_least("top_k", self.top_k, 1)
        if self.retrieve not in MODES:
            raise ValueError(f"retrieve: unknown mode {self.retrieve!r}; expected one of {', '.join(MODES)}")
        if self.embedder not in EMBEDDERS:
            raise ValueError(f"embedder: unknown embedder {self.embedder!r}; expected one of {', '.join(EMBEDDERS)}")


# (the domain, the run's problems, the [behaviors] section) -> each problem's conditioning, by problem id: what a
# caller gives synth to run a search conditioned on behaviours (metacot.behaviors.handbook.bci.condition)
Conditioner = Callable[[Domain, list[Any], BehaviorsConfig], dict[str, Conditioning]]
