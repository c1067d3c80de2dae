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
        "train": {"train_tokens": 2_000, "batch_size": 4, "threads": 1, "checkpoints": 1},
        "eval": {"samples": 2, "max_new_tokens": 32, "batch_size": 8, "curve_problems": 4, "loop_lines": 16},
    },
    # Countdown-3 on 2 CPU cores (about 90 minutes, docs/learn.md): a ~0.5M-parameter model (128 wide, 2 layers) reading
    # byte-level BPE pieces (512 merges, digits single: traces ~1.8x shorter than in characters), two models at once on
    # a core each. Layers, learning rate, batch and budget chosen on the validation split with cot (docs/learn.md):
    # batch 8 at 1e-3 solves 35% of validation problems after 2M tokens; fewer tokens solve almost none. Batches of ~720
    # tokens (cot's 8 records) give every condition about as many steps. 3,072 tokens hold every record; an answer
    # repeating its own lines is stopped (loop_lines). The searches' PRM is wrong 30% of the time: with the exact
    # oracle, A* and MCTS go straight to the solution and their traces are the cot path.
    "cpu": {
        "noise": 0.3,
        "heldout_problems": 400,
        "heldout_new_targets": 100,
        "jobs": 2,
        "model": {"hidden_size": 128, "num_layers": 2, "intermediate_size": 384, "max_length": 3072, "merges": 512},
        "train": {
            "train_tokens": 2_000_000,
            "learning_rate": 1e-3,
            "batch_tokens": 720,
            "checkpoints": 2,
            "threads": 1,
        },
        "eval": {
            "samples": 8,
            "sampled_problems": 50,
            "curve_problems": 100,
            "max_new_tokens": 3072,
            "loop_lines": 16,
        },
    },
    # Countdown-4 on one GPU (documented, not run here): Stream of Search's scale, ~85M parameters; BPE pieces as on
    # the CPU (about 1.8 characters each), so 8,192 of them hold what Stream of Search's 4,096 subword tokens do
    "gpu": {
        "num_numbers": 4,
        "noise": 0.3,
        "train_problems": 100_000,
        "validation_problems": 1_000,
        "heldout_problems": 1_000,
        "heldout_new_targets": 500,
        "model": {
            "hidden_size": 768,
            "num_layers": 12,
            "num_heads": 12,
            "intermediate_size": 3072,
            "max_length": 8192,
            "merges": 512,
        },
        "train": {"train_tokens": 500_000_000, "learning_rate": 3e-4, "batch_size": 64, "checkpoints": 4},
        "eval": {"samples": 8, "max_new_tokens": 8192, "batch_size": 64, "curve_problems": 200, "cache": "dynamic"},
    },
}
