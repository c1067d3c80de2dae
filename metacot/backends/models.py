"""Local model folders: the folder check, tokenizers, and Hugging Face models loaded for inference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DTYPES = ("float32", "float16", "bfloat16")


def check_model_folder(model: str, section: str) -> None:
    """A ValueError naming the setting unless `model` is a local folder (engines would try a hub instead)."""
    if not model or not Path(model).is_dir():
        raise ValueError(
            f"{section}.model: no model at '{model}': need a local folder with the model's files (models and "
            "tokenizers are never fetched from a hub)"
        )


def load_tokenizer(folder: str, setting: str) -> Any:
    """A tokenizer from a local folder, never from a hub; a ValueError naming the setting otherwise."""
    if not folder or not Path(folder).is_dir():
        raise ValueError(
            f"{setting}: need a local folder with the tokenizer files (tokenizer.json, tokenizer_config.json), "
            f"got '{folder}', which is no folder here (models and tokenizers are never fetched from a hub)"
        )
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as e:  # a folder without (readable) tokenizer files
        raise ValueError(f"{setting}: cannot load a tokenizer from the folder '{folder}': {e}") from None


def load_pretrained(model_class: Any, model: str, device: str, dtype: str, section: str) -> tuple[Any, Any]:
    """(tokenizer, model in eval mode on the device) from a local folder; a ValueError naming the setting otherwise."""
    check_model_folder(model, section)
    if dtype not in DTYPES:
        raise ValueError(f"{section}.dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    import torch
    from transformers import AutoTokenizer

    try:
        torch_device = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"{section}.device: {e}") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
        net, info = model_class.from_pretrained(
            model, dtype=getattr(torch, dtype), local_files_only=True, output_loading_info=True
        )
    except (OSError, ValueError) as e:
        raise ValueError(f"{section}.model: cannot load '{model}': {e}") from None
    if info["missing_keys"]:
        missing = ", ".join(sorted(info["missing_keys"])[:4])
        raise ValueError(f"{section}.model: '{model}' is not a {net.__class__.__name__} checkpoint (no {missing})")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, net.to(torch_device).eval()


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads (checked by the config), when set. Process-wide: the policy's and the PRM's settings
    are one setting (the backend built last wins), and every torch model in the process runs on them. None leaves
    torch's default."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)


def added_bos(tokenizer: Any) -> str:
    """The BOS text that the tokenizer adds when it encodes text (a server's tokenizer adds it too), or ""."""
    bos = tokenizer.bos_token
    return bos if bos is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id] else ""
