"""The settings of every policy backend, importable without any backend's libraries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from metacot.backends.engine import VLLMEngineConfig
from metacot.backends.rotation import BASE_URL_HELP
from metacot.backends.server import check_transport
from metacot.checks import at_least, between, optional_at_least
from metacot.flags import flag

# backend -> "module:Class", imported only when chosen: a light install never loads torch or vLLM.
# A new backend: its module, its section below (and a field of PolicyConfig), and its line here.
BACKENDS = {
    "symbolic": "metacot.policy.symbolic:SymbolicCountdownPolicy",
    "transformers": "metacot.policy.transformers:TransformersPolicy",
    "vllm": "metacot.policy.vllm:VLLMPolicy",
    "openai": "metacot.policy.openai:OpenAIPolicy",
}


# The symbolic policy's move sets: "sos" (stream of search: non-negative whole results, larger operand first) or
# "all" (every exact result, fractions and negatives too: what the verifier accepts). Mirrors the Countdown oracle's.
SYMBOLIC_MOVES = ("sos", "all")


@dataclass
class SymbolicPolicyConfig:
    sample: bool = field(
        default=True,
        metadata={"help": "a seeded random subset of the legal moves; false: the first n in enumeration order"},
    )
    mistake_rate: float = flag(
        "share of proposed steps with a wrong result (one slip per operation in a search)", 0.0
    )  # probability that a proposal is plausible but wrong (a slip in arithmetic)
    moves: str = flag(
        "the symbolic policy's moves: sos (non-negative whole results) or all (fractions, negatives)",
        "sos",
        name="--symbolic-moves",
        choices=lambda: SYMBOLIC_MOVES,
    )  # proposals and rollouts alike
    last_step_check: bool = field(
        default=False,
        metadata={
            "help": "at two numbers, a step that makes the target is among those proposed, even where fewer "
            "are asked for than the legal steps (a solver checks every combination of the last two)"
        },
    )  # proposals only: a rollout plays at random. Off by default: every strategy's default width already proposes
    # all "sos" moves of two numbers (4 at most), and best-of-N (one step per chain) would be another baseline
    # (the strategy benchmark at 300 nodes, flip 0: 21.5% -> 46.5% solved)

    def __post_init__(self) -> None:
        between("mistake_rate", self.mistake_rate, 0, 1)
        if self.moves not in SYMBOLIC_MOVES:
            raise ValueError(f"moves: unknown move set {self.moves!r}; expected one of {', '.join(SYMBOLIC_MOVES)}")


@dataclass
class SamplingConfig:
    """How every LLM policy samples a step, and a rollout for the rollout PRM."""

    temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature, above 0 (LLM policies always sample)"}
    )
    top_p: float = field(
        default=1.0, metadata={"help": "nucleus sampling: the probability mass sampled from, in (0, 1]"}
    )
    max_tokens: int = field(
        default=32,
        metadata={"help": 'tokens per step; a step cut off here (finish_reason "length") becomes a dead node'},
    )
    step_delimiter: str | None = field(
        default=None,
        metadata={"help": 'the text that ends a step (default: the domain\'s: "\\n" Countdown, "\\n\\n" math)'},
    )
    rollout_max_tokens: int = field(
        default=256, metadata={"help": "a rollout for the rollout PRM runs to EOS or this many tokens"}
    )

    def __post_init__(self) -> None:
        # every LLM policy samples: temperature 0 (greedy) would propose one step n times
        if type(self.temperature) not in (int, float) or not 0 < self.temperature < float("inf"):
            raise ValueError(
                f"temperature: must be a finite number above 0 (this policy samples), got {self.temperature!r}"
            )
        if type(self.top_p) not in (int, float) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p: must be a number in (0, 1], got {self.top_p!r}")
        at_least("max_tokens", self.max_tokens, 1)
        at_least("rollout_max_tokens", self.rollout_max_tokens, 1)
        super_check = getattr(super(), "__post_init__", None)  # a vLLM section also checks its engine settings
        if super_check is not None:
            super_check()


@dataclass
class TransformersPolicyConfig(SamplingConfig):
    model: str = flag(
        "the model: a local folder, or the served name (openai, http)", "", name="--{section}-model", metavar="DIR"
    )  # never fetched from a hub
    device: str = field(default="cpu", metadata={"help": 'torch device: "cpu" or "cuda"'})
    dtype: str = field(
        default="float32", metadata={"help": 'torch dtype of the weights: "float32", "float16" or "bfloat16"'}
    )
    batch_size: int = field(
        default=64,
        metadata={
            "help": "the most sequences (prompt x sample) generated together (pooled: one that ends makes room at once)"
        },
    )
    threads: int | None = flag(
        "torch threads for the transformers backend, process-wide (default: torch's)", None, name="--{section}-threads"
    )
    # How the model runs, not what the run is: outside the config hash, so a resume may use another thread count.
    TRANSPORT: ClassVar[tuple[str, ...]] = ("threads",)

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least("batch_size", self.batch_size, 1)
        optional_at_least("threads", self.threads, 1)


@dataclass
class VLLMPolicyConfig(SamplingConfig, VLLMEngineConfig):
    enable_prefix_caching: bool = field(
        default=True,
        metadata={"help": "vLLM prefix caching: a child's prompt extends its parent's, so cached prefixes are reused"},
    )
    enable_chunked_prefill: bool | None = field(
        default=None,
        metadata={
            "help": "vLLM chunked prefill (default: vLLM's, but off on CPUs, where vLLM 0.32 crashes when a "
            "seeded request's prompt is split across engine steps)"
        },
    )


@dataclass
class OpenAIPolicyConfig(SamplingConfig):
    # How the server is reached, not what it returns: outside the config hash, so a rerun may change them. Not the
    # tokenizer: its chat template and vocabulary make the prompts.
    TRANSPORT: ClassVar[tuple[str, ...]] = (
        "base_url",
        "api_key_env",
        "timeout",
        "max_retries",
        "backoff",
        "cooldown",
        "concurrency",
    )

    # The API root, as the openai client takes it (vLLM: ending in /v1); several copies of the server: a list, or
    # the URLs separated by commas. Requests go to the least busy; a failing one sits out `cooldown` seconds.
    base_url: str | list[str] = flag(
        BASE_URL_HELP, "http://127.0.0.1:8000/v1", name="--{section}-base-url", metavar="URL"
    )
    model: str = flag(
        "the model: a local folder, or the served name (openai, http)", "", name="--{section}-model", metavar="DIR"
    )  # also the tokenizer's folder when `tokenizer` is empty
    tokenizer: str = field(
        default="",
        metadata={
            "help": "a local folder with the model's tokenizer, whose chat template builds the prompts "
            "(default: model, when it is a folder)"
        },
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "the environment variable that holds the API key (never the key itself)"},
    )
    timeout: float = field(default=60.0, metadata={"help": "seconds per HTTP request"})
    max_retries: int = field(
        default=3,
        metadata={"help": "retries per request on 429, 5xx, connection errors, timeouts and replies that are not JSON"},
    )
    backoff: float = field(
        default=0.5, metadata={"help": "seconds before the first retry; doubled before each next one"}
    )
    cooldown: float = field(
        default=30.0,
        metadata={
            "help": "seconds a failing server (of several) stays out of rotation, and a hung one "
            "(2 timeouts in a row) fails requests at once (at least timeout)"
        },
    )
    concurrency: int = field(default=16, metadata={"help": "requests in flight at once, over all the servers"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_transport(self)
        at_least("concurrency", self.concurrency, 1)


@dataclass
class PolicyConfig:
    """Which backend proposes steps, and each backend's own section (only the chosen one is used)."""

    backend: str = flag("who proposes steps", "symbolic", name="--policy", choices=lambda: BACKENDS)
    symbolic: SymbolicPolicyConfig = field(default_factory=lambda: SymbolicPolicyConfig(mistake_rate=0.1))
    transformers: TransformersPolicyConfig = field(default_factory=TransformersPolicyConfig)
    vllm: VLLMPolicyConfig = field(default_factory=VLLMPolicyConfig)
    openai: OpenAIPolicyConfig = field(default_factory=OpenAIPolicyConfig)
