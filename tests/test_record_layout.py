"""Records in one text layout, which TRL reads the same way in every process: SFTTrainer, built in subprocesses
under several PYTHONHASHSEEDs on metacot's traces, objective exports and priming records, prepares the same tokens
in each, ending (prompt-completion) with the end-of-sequence token; and metacot's readers take either layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from export_runs import countdown_run, tiny_lm

from metacot.behaviors.measure.heuristic import HeuristicTagger
from metacot.behaviors.measure.inputs import Items
from metacot.behaviors.prime.datasets import PrimeOptions, write_prime
from metacot.cli import main
from metacot.linearize.audit import audit_records
from metacot.outputs.export import export_dataset, export_objective
from metacot.outputs.rundir import RunDir

pytest.importorskip("trl")

SCRIPT = Path(__file__).parent / "trl_prepared.py"
# TRL 1.16's is_conversational takes the first key of {prompt, completion, messages} a set gives: "completion"
# under PYTHONHASHSEED 1, "messages" under 10, 14 and 21 (the conversational path, which appends no EOS)
SEEDS = (1, 10, 14, 21)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> str:
    return countdown_run(tmp_path_factory.mktemp("layout") / "run", problems=4)


@pytest.fixture(scope="module")
def lm(tmp_path_factory) -> str:
    return tiny_lm(tmp_path_factory.mktemp("layout-lm"))


def lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def prepared_under_each_seed(lm: str, files: list[Path], out: Path) -> dict[int, dict[str, list]]:
    """seed -> file -> [[input_ids, labels] per record] as SFTTrainer prepared them in a process with that
    PYTHONHASHSEED (the processes run side by side)."""
    processes = {
        seed: subprocess.Popen(
            [sys.executable, str(SCRIPT), lm, str(out / f"seed-{seed}"), *map(str, files)],
            env=os.environ | {"PYTHONHASHSEED": str(seed)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in SEEDS
    }
    tokens = {}
    for seed, process in processes.items():
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        tokens[seed] = json.loads(stdout)
    return tokens


def older_trace_file(run: str) -> str:
    """traces/older.jsonl: the cot traces as versions before one layout wrote them, with both layouts' keys."""
    with (Path(run) / "traces" / "older.jsonl").open("wb") as f:
        for r in lines(Path(run) / "traces" / "cot.jsonl"):
            turns = [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["completion"]}]
            f.write(orjson.dumps({**r, "messages": turns}) + b"\n")
    return "older"


@dataclass
class Prepared:
    """The files of each layout, and what SFTTrainer made of every file under each seed."""

    default: list[str]
    messages: list[str]
    tokens: dict[int, dict[str, list]]


@pytest.fixture(scope="module")
def prepared(run, lm, tmp_path_factory) -> Prepared:
    """The records of a run as metacot writes and exports them by default and in the messages layout, prepared by
    SFTTrainer in one process per seed (one run of the subprocesses for both layouts: each takes seconds)."""
    default = [
        Path(run) / "traces" / "metacot.jsonl",
        export_objective(run, "on_path")[0] / "data.jsonl",
        export_objective(run, "full", tokenizer=lm)[0] / "data.jsonl",
        write_prime(run, PrimeOptions("all_strategies"))[0],
        export_dataset(run, older_trace_file(run), "parquet"),
    ]
    prime = Path(run) / "prime" / "messages.jsonl"
    assert main(["prime", run, "--variant", "all_strategies", "--record-layout", "messages", "--out", str(prime)]) == 0
    assert main(["export", run, "--objective", "on_path", "--record-layout", "messages"]) == 0
    assert main(["export", run, "--parquet", "metacot", "--record-layout", "messages"]) == 0
    exports = Path(run) / "exports"
    messages = [prime, exports / "on_path-metacot-messages" / "data.jsonl", exports / "metacot-messages.parquet"]
    tokens = prepared_under_each_seed(lm, default + messages, tmp_path_factory.mktemp("trl"))
    return Prepared([str(f) for f in default], [str(f) for f in messages], tokens)


def shown(file: str) -> str:
    """A file as a failure names it: its folder and name."""
    return f"{Path(file).parent.name}/{Path(file).name}"


def same_under_every_seed(prepared: Prepared, files: list[str]) -> None:
    """Fails naming each file whose tokens under some seed differ from those under the first, and those seeds."""
    first = prepared.tokens[SEEDS[0]]
    differ = {shown(f): [seed for seed in SEEDS if prepared.tokens[seed][f] != first[f]] for f in files}
    assert not any(differ.values()), f"tokens that differ from those under PYTHONHASHSEED={SEEDS[0]}: {differ}"


def test_default_records_give_trl_the_same_tokens_under_every_hash_seed_ending_with_eos(prepared, lm):
    from transformers import AutoTokenizer

    eos = AutoTokenizer.from_pretrained(lm).eos_token_id
    no_eos = {  # the EOS ends every record, and gets loss
        shown(file): [
            seed
            for seed in SEEDS
            if any(ids[-1] != eos or labels[-1] != eos for ids, labels in prepared.tokens[seed][file])
        ]
        for file in prepared.default
    }
    same_under_every_seed(prepared, prepared.default)
    assert not any(no_eos.values()), f"PYTHONHASHSEEDs under which records do not end with a trained EOS: {no_eos}"
    for file in prepared.default:
        if file.endswith(".jsonl"):
            assert all("messages" not in r and isinstance(r["completion"], str) for r in lines(Path(file))), file


def test_messages_records_give_trl_the_same_tokens_under_every_hash_seed(prepared, lm):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(lm)
    same_under_every_seed(prepared, prepared.messages)
    for file in prepared.messages:
        if file.endswith(".jsonl"):
            records = lines(Path(file))
            assert all("prompt" not in r and "completion" not in r for r in records), file
            for (ids, _), record in zip(prepared.tokens[SEEDS[0]][file], records, strict=True):
                # the chat template ends the assistant's turn with the EOS token
                assert record["messages"][1]["content"] + tokenizer.eos_token in tokenizer.decode(ids)


def test_tokenized_records_stay_prompt_completion(run, lm):
    with pytest.raises(ValueError, match="--record-layout messages: tokenized records"):
        export_objective(run, "full", tokenizer=lm, layout="messages")


def test_readers_take_either_layout(tmp_path):
    """The same run's traces written in each layout: the audit, the heuristic tagger, `behaviors`' reader and the
    run's stats read the same texts from both."""
    run = countdown_run(tmp_path / "run", problems=3)
    trees = {tree.problem_id: tree for tree in RunDir(run).iter_trees()}
    domain = RunDir(run).domain()
    seen = {}
    for layout in ("messages", "prompt-completion"):
        assert main(["linearize", run, "--formats", "metacot", "--record-layout", layout]) == 0
        stats = orjson.loads(RunDir(run).stats_path.read_bytes())
        path = Path(run) / "traces" / "metacot.jsonl"
        records = lines(path)
        assert {"prompt" in r for r in records} == {layout != "messages"}
        assert {"messages" in r for r in records} == {layout == "messages"}
        audit = audit_records(((r, trees[r["problem_id"]]) for r in records), domain)
        assert audit.claims > 0 and not audit.failures
        items = Items(path)
        seen[layout] = (
            stats["formats"]["metacot"]["mean_completion_chars"],
            audit.claims,
            [item.record["completion"] for item in items],
            HeuristicTagger().tag(records),
        )
    assert seen["messages"] == seen["prompt-completion"]
