"""Build a tiny local model to try metacot's LLM backends with: no download, about half a minute on a CPU.

    python scripts/tiny_model.py models/tiny                 # from the repository root; needs metacot[hf]
    metacot synth --policy transformers --policy-model models/tiny --prm rollout --num-problems 4 --out runs/tiny

The model is the test suite's (tests/tiny_models.py): a ~100k-parameter Llama and a byte-level BPE tokenizer with a
chat template, trained briefly on Countdown chats. It writes 'a op b = c' lines, mostly illegal, so its trees are
shallow: it exercises the plumbing (prompts, batching, stop strings, the PRM read-outs), not search quality. Its
vocabulary holds Math-Shepherd's step tag, so the same folder serves as a step-tag PRM (--prm transformers);
--token-classifier builds a separator-head PRM instead (an untrained 2-label token classifier).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tiny_models import build_causal_lm, build_token_classifier, single_thread  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a tiny local model for metacot's LLM backends.")
    parser.add_argument("out", metavar="OUT_DIR", help="the folder to write the model and its tokenizer into")
    parser.add_argument("--train-steps", type=int, default=150, metavar="N", help="training steps (default 150)")
    parser.add_argument("--token-classifier", action="store_true", help="a separator-head PRM instead of a causal LM")
    args = parser.parse_args(argv)
    with single_thread():
        if args.token_classifier:
            folder = build_token_classifier(args.out)
            print(f"{folder}: try metacot synth --prm transformers --prm-model {folder} --prm-style separator-head")
        else:
            folder = build_causal_lm(args.out, train_steps=args.train_steps)
            print(f"{folder}: try metacot synth --policy transformers --policy-model {folder} --prm rollout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
