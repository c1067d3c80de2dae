"""Run as a script: the tokens TRL's SFTTrainer prepares from each dataset file, as JSON on stdout.

`python tests/trl_prepared.py MODEL_DIR OUT_DIR FILE...` builds one SFTTrainer per file (JSONL records, or a Parquet
file) with the tiny local model and prints {file: [[input_ids, labels], ...]}. The layout TRL reads a record in
can hang on the process's PYTHONHASHSEED (trl.data_utils.is_conversational picks a key from a set): the tests run
this script under several seeds and compare.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import datasets
import torch
import trl
from transformers import AutoModelForCausalLM, AutoTokenizer

datasets.disable_progress_bars()


def load(path: Path, cache: Path) -> datasets.Dataset:
    """The file as `datasets` reads it (load_dataset("json" or "parquet", ...))."""
    read = datasets.Dataset.from_parquet if path.suffix == ".parquet" else datasets.Dataset.from_json
    return read(str(path), cache_dir=str(cache))


def prepared(model_dir: str, out: Path, files: list[str]) -> dict[str, list]:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    args = trl.SFTConfig(output_dir=str(out), report_to=[], use_cpu=True, max_length=None, save_strategy="no")
    result = {}
    for file in files:
        trainer = trl.SFTTrainer(
            model=model, args=args, train_dataset=load(Path(file), out / "cache"), processing_class=tokenizer
        )
        result[file] = [[row["input_ids"], row["labels"]] for row in trainer.train_dataset]
    return result


if __name__ == "__main__":
    torch.set_num_threads(1)
    model_dir, out, *files = sys.argv[1:]
    print(json.dumps(prepared(model_dir, Path(out), files)))
