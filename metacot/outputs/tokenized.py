"""Objective records as a tokenized dataset for TRL's SFTTrainer: input_ids and a completion_mask from the segments.

TRL 1.16's SFTTrainer takes a pre-tokenized dataset (an `input_ids` column) as is, and builds its labels from a
`completion_mask` column (1: the token gets loss; -100 labels elsewhere) when `completion_only_loss` is on, which it
is by default for a dataset with `prompt` and `completion` columns: the records keep theirs.
"""

from __future__ import annotations

from typing import Any

from metacot.linearize.layout import texts


def tokenize_record(record: dict, tokenizer: Any) -> dict:
    """input_ids of the prompt (through the tokenizer's chat template when it has one) and the completion with the
    end-of-sequence token, and completion_mask: 1 on a token iff all its characters lie in segments with loss
    (the end-of-sequence token goes with the last segment); 0 on the prompt."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("--tokenizer: a fast tokenizer is needed (its offsets place each token in a segment)")
    prompt, completion = texts(record)
    prompt = _prompt_text(prompt, tokenizer)
    eos = tokenizer.eos_token or ""
    text = prompt + completion + eos
    loss = [False] * len(prompt)
    for segment in record["segments"]:
        loss += [segment["loss"]] * len(segment["text"])
    loss += [record["segments"][-1]["loss"]] * len(eos)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(end > start and all(loss[start:end])) for start, end in encoded["offset_mapping"]]
    return {"input_ids": list(encoded["input_ids"]), "completion_mask": mask}


def _prompt_text(prompt: str, tokenizer: Any) -> str:
    if not getattr(tokenizer, "chat_template", None):
        return prompt
    messages = [{"role": "user", "content": prompt}]
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
