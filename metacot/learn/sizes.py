"""The experiment's named sizes (smoke, cpu, gpu): settings laid out as LearnConfig's dict, importable without
torch (the command line lists them)."""

from __future__ import annotations

from typing import Any

# Named sizes, laid out as LearnConfig's dict; flags and --set override them.
SIZES: dict[str, dict[str, Any]] = {
    # the plumbing in seconds (CI): a handful of problems, a tiny model, a few training steps
    "smoke": {
        "seeds": [0],
        "train_problems": 24,
        "validation_problems": 4,
        "heldout_problems": 6,
        "heldout_new_targets": 2,
        "bootstrap": 200,
        "model": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "max_length": 256},
        "train": {"train_tokens": 2_000, "batch_size": 4, "threads": 1},
        "eval": {"samples": 2, "max_new_tokens": 32, "batch_size": 8},
    },
    # Countdown-3 on 2 CPU cores: the ~1.8M-parameter model measured in TEACHING-EXPERIMENTS.md (9,800 training
    # tokens/s; cot solves 12% of held-out problems after 4.1M tokens), learning rate 2e-3 chosen there with cot.
    # 4,096 characters of context: sos logs of Countdown-3 run to a median of ~2,000 characters (90th percentile
    # ~3,600; measured on the cpu size's 5,000 training problems), every other condition stays under ~1,050.
    "cpu": {
        "model": {"max_length": 4096},
        "train": {"train_tokens": 4_000_000, "learning_rate": 2e-3, "batch_size": 32},
        "eval": {"samples": 8, "max_new_tokens": 4096, "batch_size": 32},
    },
    # Countdown-4 on one GPU (documented, not run here): Stream of Search's scale, ~85M parameters; character
    # tokens, so 16,384 of them hold what Stream of Search's 4,096 subword tokens do
    "gpu": {
        "num_numbers": 4,
        "train_problems": 100_000,
        "validation_problems": 1_000,
        "heldout_problems": 1_000,
        "heldout_new_targets": 500,
        "model": {
            "hidden_size": 768,
            "num_layers": 12,
            "num_heads": 12,
            "intermediate_size": 3072,
            "max_length": 16384,
        },
        "train": {"train_tokens": 500_000_000, "learning_rate": 3e-4, "batch_size": 64},
        "eval": {"samples": 8, "max_new_tokens": 16384, "batch_size": 64},
    },
}
