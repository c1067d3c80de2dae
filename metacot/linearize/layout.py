"""An SFT record's text in one of TRL's two dataset layouts, never both, and the text read back from either.

TRL's SFTTrainer tells the layouts apart by one key it picks from a set (trl.data_utils.is_conversational), so a
record with both `prompt`/`completion` strings and `messages` is read one way or the other as the process's
PYTHONHASHSEED falls, and only the prompt-completion reading appends the end-of-sequence token. Records carry one.
"""

from __future__ import annotations

PROMPT_COMPLETION, MESSAGES = "prompt-completion", "messages"
LAYOUTS = (PROMPT_COMPLETION, MESSAGES)
TEXT_KEYS = ("prompt", "completion", "messages")
LAYOUT_HELP = (
    "the records' text: prompt-completion (prompt and completion strings: TRL's prompt-completion layout, to "
    "which SFTTrainer appends the end-of-sequence token) or messages (a user and an assistant turn: TRL's "
    "conversational layout, ended by the chat template)"
)


def check_layout(layout: str, where: str = "record_layout") -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"{where}: unknown record layout {layout!r}; expected {' or '.join(LAYOUTS)}")


def text_keys(prompt: str, completion: str, layout: str) -> dict:
    """The record's text keys in `layout`: prompt and completion, or messages (the user's and the assistant's
    turn)."""
    check_layout(layout)
    if layout == MESSAGES:
        return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]}
    return {"prompt": prompt, "completion": completion}


def prompt_of(record: dict) -> str | None:
    """The record's prompt in either layout: its `prompt` text, else the first user turn of its `messages`."""
    value = record.get("prompt")
    if isinstance(value, str):
        return value
    turns = _turns(record, "user")
    return turns[0] if turns else None


def completion_of(record: dict, field: str = "completion") -> str | None:
    """The record's completion in either layout: its `field` text, else the last assistant turn of its
    `messages`."""
    value = record.get(field)
    if isinstance(value, str):
        return value
    turns = _turns(record, "assistant")
    return turns[-1] if turns else None


def layout_of(record: dict) -> str:
    """The layout a record is in: prompt-completion when it has a completion text (as every record of older
    versions, which had both), else messages."""
    return PROMPT_COMPLETION if isinstance(record.get("completion"), str) else MESSAGES


def texts(record: dict) -> tuple[str, str]:
    """A record's prompt and completion in either layout; ValueError naming the record when it lacks them."""
    prompt, completion = prompt_of(record), completion_of(record)
    if prompt is None or completion is None:
        raise ValueError(f"record of problem {record.get('problem_id')!r}: no prompt and completion (nor messages)")
    return prompt, completion


def text_keys_of(record: dict, layout: str | None = None) -> dict:
    """A record's text keys in `layout` (default: its own, layout_of), to take the place of all it has."""
    return text_keys(*texts(record), layout or layout_of(record))


def _turns(record: dict, role: str) -> list[str]:
    messages = record.get("messages")
    if not isinstance(messages, list):
        return []
    return [
        m["content"]
        for m in messages
        if isinstance(m, dict) and m.get("role") == role and isinstance(m.get("content"), str)
    ]
