"""The resumable experiment: problems and splits, one synthesis per search, every condition's records, then per
condition and seed a model trained and evaluated on the held-out problems, and the report.

Layout of the directory (each file written whole, so a rerun skips what is there):
  manifest.json  problems/  synth/<search>/ (run directories)  conditions/<name>.jsonl  tokenizer/
  runs/<condition>/seed-<s>/ (model/, train.json, eval.jsonl, curve.jsonl)  results.jsonl  table.md  solve_rate.png
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from metacot.config import SynthConfig
from metacot.jsonl import MAX_RECORD, bounded_lines
from metacot.learn.conditions import CONDITIONS, Sources, common_problems, condition_records, searches_of
from metacot.learn.config import LearnConfig
from metacot.learn.eval_config import EvalConfig
from metacot.learn.evaluate import evaluate, spread
from metacot.learn.external import external_records
from metacot.learn.model import build_model, build_tokenizer, parameter_count
from metacot.learn.report import Run, write_report
from metacot.learn.splits import Splits, learn_prompt, make_splits, read_splits, write_splits
from metacot.learn.stats import chance, samples_needed
from metacot.learn.train import train
from metacot.outputs.files import AtomicFile, write_json_atomic
from metacot.outputs.manifest import resumed, versions
from metacot.outputs.rundir import RunDir
from metacot.problems.countdown import CountdownProblem
from metacot.progress import note, progress_bar
from metacot.synth import synth
from metacot.tree import SearchTree

MANIFEST = "manifest.json"
# A completion is cut at this many times its condition's longest training completion: past it a model is looping
# (no right answer was ever that long), and one looping answer would hold its whole batch of generations
LONGEST_ANSWER = 2


class LearnError(ValueError):
    """An experiment directory that cannot be resumed with these settings."""


@dataclass
class ExperimentResult:
    out: Path
    runs: list[Run]
    trained: int  # trainings done by this call (a resume skips finished ones)
    evaluated: int
    seconds: float


def run_experiment(config: LearnConfig, command: str = "", progress: bool = True) -> ExperimentResult:
    """Everything not yet in config.out, then the report (written again from every finished run)."""
    started = time.perf_counter()
    out = Path(config.out)
    _open(out, config, command)
    splits = _splits(out / "problems", config)
    sources = synthesize(out, config, splits.train, progress)
    records = {name: _records(out / "conditions", name, sources) for name in CONDITIONS}
    texts = [learn_prompt(p) for p in splits.heldout + splits.validation]
    texts += [r["prompt"] + r["completion"] for rs in records.values() for r in rs]
    tokenizer = build_tokenizer(texts, out / "tokenizer", merges=config.model.merges)  # one tokenizer for all
    for name, path in config.external.items():  # neither the tokenizer nor the budget depends on them
        records[name] = _external(out / "conditions", name, Path(path), splits.train, sources.problems)
    lengths = {name: completion_tokens(tokenizer, rs) for name, rs in records.items()}
    budget = float(config.equal_tokens or max(lengths[name][0] for name in CONDITIONS))  # fixed by the registry
    models = [
        Model(name, seed, records[name], samples_needed(budget, lengths[name][0], config.eval.samples),
              LONGEST_ANSWER * lengths[name][1], budget)
        for name in config.trained()
        for seed in config.seeds
    ]
    parameters = parameter_count(build_model(config.model, tokenizer, config.seeds[0]))
    done = _each_model(out, config, splits, models, parameters, progress)
    runs = [Run(m.condition, m.seed, d[0], d[1], d[4]) for m, d in zip(models, done, strict=True)]
    seconds = time.perf_counter() - started
    level = sum(map(chance, splits.split(config.evaluate_on))) / len(splits.split(config.evaluate_on))
    write_report(out, config, runs, budget, level, command, seconds)
    trained, evaluated = sum(d[2] for d in done), sum(d[3] for d in done)
    return ExperimentResult(out, runs, trained, evaluated, seconds)


@dataclass
class Model:
    """One model of the experiment: its condition, training seed, training records and samples per problem."""

    condition: str
    seed: int
    records: list[dict]
    samples: int
    longest: int  # tokens a completion may run to: LONGEST_ANSWER times its condition's longest training one
    budget: float  # generated tokens per problem of the best-of-n comparison: sampling stops past them


Done = tuple[dict, list[dict], bool, bool, list[dict]]  # train.json, eval.jsonl, trained now, evaluated now, curve


def _each_model(
    out: Path, config: LearnConfig, splits: Splits, models: list[Model], parameters: int, progress: bool
) -> list[Done]:
    """Train and evaluate every model not yet finished, `config.jobs` at a time (each in a process of its own when
    more than one: progress is then a bar over models)."""
    if config.jobs == 1:
        return [_one_model(out, config, splits, m, parameters, progress) for m in models]
    context = multiprocessing.get_context("spawn")  # torch and fork do not mix
    with ProcessPoolExecutor(config.jobs, mp_context=context) as pool, progress_bar(
        show=progress, total=len(models), unit="model", desc="models"
    ) as bar:
        futures = {pool.submit(_one_model, out, config, splits, m, parameters, False): m for m in models}
        for future in as_completed(futures):
            _note(futures[future], future.result(), progress)
            bar.update(1)
        return [f.result() for f in futures]


def _one_model(out: Path, config: LearnConfig, splits: Splits, model: Model, parameters: int, progress: bool) -> Done:
    folder = out / "runs" / model.condition / f"seed-{model.seed}"
    facts, trained = _trained(folder, model.records, out / "tokenizer", config, model.seed, parameters, progress)
    results, evaluated = _evaluated(folder, splits, config, model, progress)
    done = facts, results, trained, evaluated, _curve(folder, splits, config, model, facts, results, progress)
    _note(model, done, progress)
    return done


def _note(model: Model, done: Done, show: bool) -> None:
    what = f"{'trained' if done[2] else 'done'}, {'evaluated' if done[3] else 'done'}"
    note(f"{model.condition} seed {model.seed}: {what}", show)


def completion_tokens(tokenizer: Any, records: list[dict]) -> tuple[float, int]:
    """The mean and the longest length of the records' completions in tokens, the end token included (what a model
    generates)."""
    encoded = tokenizer([r["completion"] for r in records], add_special_tokens=False)["input_ids"]
    lengths = [len(ids) + 1 for ids in encoded]
    return sum(lengths) / max(len(lengths), 1), max(lengths, default=1)


def _open(out: Path, config: LearnConfig, command: str) -> None:
    """Create the directory's manifest or check that a resume keeps the settings its results depend on."""
    path = out / MANIFEST
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest = resumed(path, "identity", config.identity(), LearnError)
    if manifest is not None:
        manifest.setdefault("resumed", []).append({"at": now, "command": command, "config": config.to_dict()})
    else:
        out.mkdir(parents=True, exist_ok=True)
        manifest = {"identity": config.identity(), "config": config.to_dict(), "command": command, "started_at": now}
        manifest["versions"] = versions()
    write_json_atomic(path, manifest)


def _splits(directory: Path, config: LearnConfig) -> Splits:
    if (directory / "heldout.jsonl").exists():
        return read_splits(directory)
    splits = make_splits(config.sizes(), config.seed)
    write_splits(splits, directory)
    return splits


def synth_config(config: LearnConfig, search: str, problems_file: Path, out: Path) -> SynthConfig:
    """One search over the training problems with the symbolic policy and the oracle PRM (noise: its flip
    probability); the trees are what counts, so the run writes only cot traces."""
    synth_config = SynthConfig(seed=config.seed, out=str(out))
    synth_config.problems.file = str(problems_file)
    synth_config.search.strategy = search
    synth_config.policy.backend = "symbolic"
    synth_config.policy.symbolic.mistake_rate = config.mistake_rate
    synth_config.prm.backend = "oracle"
    synth_config.prm.oracle.flip_prob = config.noise
    synth_config.linearize.formats = ["cot"]
    return synth_config


def synthesize(out: Path, config: LearnConfig, problems: list[CountdownProblem], progress: bool) -> Sources:
    """Each search every condition reads, run once (resumed) into synth/<search>; the problems all of them solved."""
    trees: dict[str, dict[str, SearchTree]] = {}
    for search in searches_of(list(CONDITIONS)):
        run = RunDir(out / "synth" / search)
        note(f"searching the training problems: {search}", progress)
        synth(synth_config(config, search, out / "problems" / "train.jsonl", run.path), progress=progress)
        trees[search] = {t.problem_id: t for t in run.iter_trees() if t.solved}
    domain = run.domain()  # the same Countdown domain in every run
    return Sources(common_problems(problems, trees), trees, domain, config.seed, config.drop_share)


def _records(directory: Path, name: str, sources: Sources) -> list[dict]:
    """conditions/<name>.jsonl, written once."""
    path = directory / f"{name}.jsonl"
    if path.exists():
        return _read_jsonl(path)
    records = condition_records(name, sources)
    _write_jsonl(path, records)
    return records


def _external(
    directory: Path, name: str, path: Path, train: list[CountdownProblem], trained: list[CountdownProblem]
) -> list[dict]:
    """conditions/<name>.jsonl, copied once from the condition's file; a resume refuses a file changed since."""
    try:
        records = external_records(name, path, train, trained)
    except ValueError as error:
        raise LearnError(f"external.{name}: {error}") from None
    copy = directory / f"{name}.jsonl"
    if not copy.exists():
        _write_jsonl(copy, records)
    elif _read_jsonl(copy) != records:
        raise LearnError(
            f"external.{name}: {path} is not the file its models were trained on ({copy}); name it anew or use "
            "another --out"
        )
    return records


def _trained(
    folder: Path, records: list[dict], tokenizer: Path, config: LearnConfig, seed: int, parameters: int,
    progress: bool,
) -> tuple[dict, bool]:
    """train.json of a finished training (and whether this call trained it)."""
    path = folder / "train.json"
    if path.exists():
        return orjson.loads(path.read_bytes()), False
    result = train(records, tokenizer, config.model, config.train, seed, folder / "model", progress)
    facts = {**asdict(result), "directory": str(result.directory), "parameters": parameters}
    facts["train_problems"] = len(records)
    facts["record_chars"] = sum(len(r["completion"]) for r in records) / len(records)
    write_json_atomic(path, facts)
    return facts, True


def _evaluated(
    folder: Path, splits: Splits, config: LearnConfig, model: Model, progress: bool
) -> tuple[list[dict], bool]:
    """eval.jsonl of a finished evaluation (and whether this call made it): each evaluated problem's greedy answer
    and the samples the model can use at equal generated tokens, marked with whether its target is a held-out one."""
    path = folder / "eval.jsonl"
    if path.exists():
        return _read_jsonl(path), False
    problems = splits.split(config.evaluate_on)
    settings = generation(config, model.samples, model.longest)
    prompts = [learn_prompt(p) for p in problems]
    results = evaluate(folder / "model", problems, prompts, settings, model.seed, progress, model.budget)
    results = [{**r, "new_target": splits.has_new_target(p)} for r, p in zip(results, problems, strict=True)]
    _write_jsonl(path, results)
    return results, True


def _curve(
    folder: Path, splits: Splits, config: LearnConfig, model: Model, facts: dict, results: list[dict], progress: bool
) -> list[dict]:
    """curve.jsonl, written once: per checkpoint, then the final model (read from its evaluation), the training
    tokens fed and each curve problem's greedy verdict."""
    path = folder / "curve.jsonl"
    if path.exists():
        return _read_jsonl(path)
    problems = splits.split(config.evaluate_on)
    chosen = spread(len(problems), config.eval.curve_problems)
    asked, prompts = [problems[i] for i in chosen], [learn_prompt(problems[i]) for i in chosen]
    points = []
    for checkpoint in checkpoints(folder / "model", facts["steps"]):
        state = orjson.loads((checkpoint / "trainer_state.json").read_bytes())
        made = evaluate(checkpoint, asked, prompts, generation(config, 0, model.longest), model.seed, progress)
        points.append({"tokens": state["num_input_tokens_seen"], "correct": [r["greedy"]["correct"] for r in made]})
    points.append({"tokens": facts["tokens_seen"], "correct": [results[i]["greedy"]["correct"] for i in chosen]})
    _write_jsonl(path, points)
    return points


def generation(config: LearnConfig, samples: int, longest: int) -> EvalConfig:
    """The evaluation settings with `samples` per problem and completions cut at `longest` tokens (at most
    eval.max_new_tokens), generating on training's threads unless told otherwise (two models at once each on every
    core would fight over them)."""
    return replace(
        config.eval,
        samples=samples,
        max_new_tokens=min(config.eval.max_new_tokens, longest),
        threads=config.eval.threads or config.train.threads,
    )


def checkpoints(model_dir: Path, steps: int) -> list[Path]:
    """The models saved along a training (train.checkpoints), in order; one saved at the last step is the model."""
    found = {int(p.name.split("-")[1]): p for p in model_dir.glob("checkpoint-*") if p.name.split("-")[1].isdigit()}
    return [found[step] for step in sorted(found) if step < steps]


def _read_jsonl(path: Path) -> list[dict]:
    """The records _write_jsonl wrote."""
    return [orjson.loads(line) for line in bounded_lines(path, MAX_RECORD)]


def _write_jsonl(path: Path, records: list[dict]) -> None:
    with AtomicFile(path) as file:
        file.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
