"""The settings of every PRM backend, importable without any backend's libraries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from metacot.backends.engine import VLLMEngineConfig
from metacot.backends.rotation import BASE_URL_HELP
from metacot.backends.server import check_transport
from metacot.checks import at_least, between, one_of, optional_at_least
from metacot.flags import flag

# backend -> "module:Class", imported only when chosen: a light install never loads torch or vLLM.
# A new backend: its module, its section below (and a field of PRMConfig), and its line here.
STYLES = ("step-tag", "separator-head")
ROLLOUT_MODES = ("soft", "hard")
BACKENDS = {
    "oracle": "metacot.prm.oracle:CountdownOraclePRM",
    "rollout": "metacot.prm.rollout:RolloutPRM",
    "transformers": "metacot.prm.transformers:TransformersPRM",
    "vllm": "metacot.prm.vllm:VLLMPRM",
    "http": "metacot.prm.http:HTTPPRM",
}


@dataclass
class OracleConfig:
    flip_prob: float = flag("probability the oracle PRM reports the wrong verdict", 0.0)
    gaussian_std: float = flag("Gaussian noise added to oracle PRM scores, clipped to [0, 1]", 0.0, name="--noise-std")

    def __post_init__(self) -> None:
        between("flip_prob", self.flip_prob, 0, 1)
        at_least("gaussian_std", self.gaussian_std, 0, float)


@dataclass
class RolloutConfig:
    """The Monte Carlo value of a step: completions to the end from it, verified (Math-Shepherd; the Meta-CoT paper's
    value function, with 128 completions per state)."""

    rollouts: int = flag("rollout PRM: completions per scored step", 8)
    mode: str = field(
        default="soft", metadata={"help": "\"soft\": the fraction of completions that verify; \"hard\": 1 if any does"}
    )
    reuse: bool = field(
        default=True,
        metadata={"help": "a completion through a child counts for the child too, which generates only the rest of "
                          "its rollouts"},
    )
    early_stop: bool = field(
        default=False,
        metadata={"help": "generate in waves of `wave` and stop once the Wilson interval of the value is decisive"},
    )
    wave: int = field(default=4, metadata={"help": "completions per wave with early_stop"})
    decisive_below: float = field(
        default=0.2, metadata={"help": "early_stop: stop once the interval lies at or below this value"}
    )
    decisive_above: float = field(
        default=0.8, metadata={"help": "early_stop: stop once the interval lies at or above this value"}
    )
    z: float = field(default=1.96, metadata={"help": "the Wilson interval's normal quantile"})

    def __post_init__(self) -> None:
        at_least("rollouts", self.rollouts, 1)
        at_least("wave", self.wave, 1)
        between("decisive_below", self.decisive_below, 0, 1)
        between("decisive_above", self.decisive_above, 0, 1)
        at_least("z", self.z, 0, float)
        one_of("mode", self.mode, ROLLOUT_MODES)


@dataclass
class ReadoutConfig:
    """How a learned PRM is read, whatever runs it (transformers, vLLM, a pooling server)."""

    # "step-tag": a causal LM, P(good) / (P(good) + P(bad)) of the next token at the tag after each step;
    # "separator-head": a 2-label token-classification model, the softmax's class 1 at the separator after each step
    style: str = flag("how a learned PRM is read", "step-tag", name="--prm-style", choices=lambda: STYLES)
    step_tag: str = field(
        default="ки",
        metadata={"help": "step-tag: the tag after each step, read for the good and bad tokens (Math-Shepherd's)"},
    )
    good_token: str = field(default="+", metadata={"help": "step-tag: the token that means a good step"})
    bad_token: str = field(default="-", metadata={"help": "step-tag: the token that means a bad step"})
    separator: str = field(
        default="<extra_0>",
        metadata={"help": "separator-head: the separator after each step, read by a 2-label token head "
                          "(Qwen2.5-Math-PRM's)"},
    )
    system_prompt: str | None = field(
        default=None,
        metadata={"help": "separator-head: a system message before the question (default: the chat template's)"},
    )
    aggregate: str = field(
        default="last",
        metadata={"help": "the path's score from its step scores: \"last\", \"min\", \"prod\" or \"mean\""},
    )


@dataclass
class TransformersPRMConfig(ReadoutConfig):
    model: str = flag(
        "the model: a local folder, or the served name (openai, http)", "", name="--{section}-model", metavar="DIR"
    )  # never fetched from a hub
    device: str = field(default="cpu", metadata={"help": "torch device: \"cpu\" or \"cuda\""})
    dtype: str = field(
        default="float32", metadata={"help": "torch dtype of the weights: \"float32\", \"float16\" or \"bfloat16\""}
    )
    batch_size: int = field(default=16, metadata={"help": "the most paths in one forward pass"})
    threads: int | None = flag(
        "torch threads for the transformers backend, process-wide (default: torch's)", None, name="--{section}-threads"
    )
    # How the model runs, not what the run is: outside the config hash, so a resume may use another thread count.
    TRANSPORT: ClassVar[tuple[str, ...]] = ("threads",)

    def __post_init__(self) -> None:
        at_least("batch_size", self.batch_size, 1)
        optional_at_least("threads", self.threads, 1)


@dataclass
class VLLMPRMConfig(ReadoutConfig, VLLMEngineConfig):
    """How the PRM is read, and the engine that runs it."""


@dataclass
class HTTPPRMConfig(ReadoutConfig):
    # How the server is reached, not what it returns: outside the config hash, so a rerun may change them. Not the
    # tokenizer: its chat template and vocabulary make the prompts.
    TRANSPORT: ClassVar[tuple[str, ...]] = ("base_url", "api_key_env", "timeout", "max_retries", "backoff", "cooldown")

    # The server's root (/pooling is not under /v1); several copies: a list, or the URLs separated by commas. A
    # round's paths are split between them; a failing one sits out `cooldown` seconds.
    base_url: str | list[str] = flag(BASE_URL_HELP, "http://127.0.0.1:8001", name="--{section}-base-url", metavar="URL")
    model: str = flag(
        "the model: a local folder, or the served name (openai, http)", "", name="--{section}-model", metavar="DIR"
    )  # also the tokenizer's folder when `tokenizer` is empty
    tokenizer: str = field(
        default="",
        metadata={"help": "a local folder with the PRM's tokenizer: paths are tokenized on this side (default: model)"},
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "the environment variable that holds the API key (never the key itself)"},
    )
    timeout: float = field(default=60.0, metadata={"help": "seconds per HTTP request"})
    max_retries: int = field(default=3, metadata={"help": "retries per request on 429, 5xx and connection errors"})
    backoff: float = field(
        default=0.5, metadata={"help": "seconds before the first retry; doubled before each next one"}
    )
    cooldown: float = field(
        default=30.0, metadata={"help": "seconds a failing server (of several) stays out of rotation, and a hung one "
                          "(2 timeouts in a row) fails requests at once (at least timeout)"}
    )

    def __post_init__(self) -> None:
        check_transport(self)


@dataclass
class PRMConfig:
    """Which backend scores steps, and each backend's own section (only the chosen one is used)."""

    backend: str = flag("who scores steps", "oracle", name="--prm", choices=lambda: BACKENDS)
    oracle: OracleConfig = field(default_factory=lambda: OracleConfig(flip_prob=0.1))
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    transformers: TransformersPRMConfig = field(default_factory=TransformersPRMConfig)
    vllm: VLLMPRMConfig = field(default_factory=VLLMPRMConfig)
    http: HTTPPRMConfig = field(default_factory=HTTPPRMConfig)
