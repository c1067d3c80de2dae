"""The `metacot` command: synth, linearize, show, view, audit, export, labels, train-prm, prime, behaviors, handbook,
improve, bench.

One module per family of verbs; this one parses the command line and turns expected failures into one line."""

from __future__ import annotations

import os
import sys
from contextlib import suppress

from metacot.cli.behaviors import _add_behaviors, _add_handbook, _add_improve, _add_prime
from metacot.cli.bench import _add_bench
from metacot.cli.export import _add_export, _add_labels
from metacot.cli.help import Parser
from metacot.cli.learn import _add_train_prm
from metacot.cli.runs import _add_audit, _add_linearize, _add_show, _add_view
from metacot.cli.synth import _add_synth, synth_config
from metacot.config import ConfigError
from metacot.outputs.card import PushError
from metacot.outputs.rundir import RunDirError
from metacot.search.breaker import RunStopped
from metacot.stop import Interrupted, interruptible

DESCRIPTION = """\
Synthesize Meta-CoT training data by search: MCTS or A* explores reasoning steps proposed by a
policy and scored by a process reward model, keeps the whole tree, and writes it out as training
strings with the dead ends and backtracks included.

With no model at all, `metacot synth` runs the built-in Countdown game: a symbolic policy proposes
arithmetic steps (some of them wrong, on purpose) and a noisy exact oracle scores them."""


# The extra that installs each optional dependency (pyproject.toml's optional-dependencies).
EXTRAS = {
    "torch": "hf",
    "transformers": "hf",
    "tokenizers": "hf",
    "vllm": "vllm",
    "openai": "openai",
    "datasets": "math",
    "pyarrow": "math",
    "math_verify": "math",
    "matplotlib": "bench",
    "huggingface_hub": "math",
    "sklearn": "handbook",
    "sentence_transformers": "handbook",
    "ray": "ray",
    "trl": "train",
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command as given, for reports that record it
    try:
        with interruptible():
            code = args.run(args)
            sys.stdout.flush()  # into a pipe, print only buffers: a closed pipe shows here, not at exit
            return code
    except BrokenPipeError:  # `metacot ... | head`: the reader is gone, which is not an error
        _silence_stdout()
        return 141
    except BaseException as error:
        explained = None if args.debug else explain(error)
        if explained is None:
            raise
        message, code = explained
        print(f"metacot: {one_line(message)}", file=sys.stderr)
        return code


def one_line(message: str) -> str:
    """A message on one line: a library's error text may span several (a tokenizer's, a hub's)."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def explain(error: BaseException) -> tuple[str, int] | None:
    """One line and an exit code for an expected failure; None for a bug (its traceback is shown)."""
    if isinstance(error, Interrupted):
        done = f"; {error.done}" if error.done else ""
        return f"stopped{done}; rerun the same command to resume", error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return "stopped", 130
    if isinstance(error, RunStopped):
        return str(error), 1
    if isinstance(error, ImportError) and (extra := EXTRAS.get((error.name or "").split(".")[0])):
        return f"{error.name} is not installed: install metacot[{extra}] (pip install 'metacot[{extra}]')", 2
    if isinstance(error, OSError) and error.filename is not None:
        return f"error: {error.filename}: {error.strerror or error}", 2
    if isinstance(error, (ConfigError, RunDirError, PushError, ValueError, ConnectionError)):  # a server down: its URL
        return f"error: {error}", 2
    if isinstance(error, MemoryError):
        return "error: out of memory (an input too large to hold?); --debug shows where", 2
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail on the closed pipe again."""
    with suppress(OSError, ValueError):  # no real stdout (a test's captured one): nothing will flush into a pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def build_parser() -> Parser:
    parser = Parser(prog="metacot", description=DESCRIPTION)
    parser.add_argument("--debug", action="store_true", help="show a traceback for every error, not one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth(commands)
    _add_linearize(commands)
    _add_show(commands)
    _add_view(commands)
    _add_audit(commands)
    _add_export(commands)
    _add_labels(commands)
    _add_train_prm(commands)
    _add_prime(commands)
    _add_bench(commands)
    _add_handbook(commands)
    _add_improve(commands)
    _add_behaviors(commands)
    return parser


__all__ = ["build_parser", "main", "synth_config"]
