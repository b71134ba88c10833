"""The demo's stages, each writing artifacts a person can open, each safe to rerun."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning_distill.atomic import atomic_write_text, renamed_into_place
from reasoning_distill.demo.config import DemoConfig
from reasoning_distill.errors import UserError
from reasoning_distill.records import Problem, Sample

logger = logging.getLogger(__name__)


class DemoStageError(UserError, RuntimeError):
    """A stage that cannot produce its artifact; the message says what to change."""


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary name, then rename)."""
    atomic_write_text(path, json.dumps(data, indent=2, default=str))


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def make_problems(cfg: DemoConfig, out: Path) -> dict[str, list[Problem]]:
    """Distillation prompts and held-out benchmarks, written to `out/problems/`."""
    from reasoning_distill.toy.tasks import make_traces

    sets = {
        "train": make_traces("math", "train", cfg.train_math, cfg.seed)
        + make_traces("code", "train", cfg.train_code, cfg.seed),
        "toy_math": make_traces("math", "heldout", cfg.heldout_math, cfg.seed),
        "toy_code": make_traces("code", "heldout", cfg.heldout_code, cfg.seed),
    }
    folder = out / "problems"
    folder.mkdir(parents=True, exist_ok=True)
    problems = {}
    for name, traces in sets.items():
        problems[name] = [t.problem for t in traces]
        write_jsonl(
            folder / f"{name}.jsonl",
            [{**t.problem.to_dict(), "gold_trace": t.assistant()} for t in traces],
        )
    return problems


def copy_teacher(src: Path, out: Path) -> Path:
    """The teacher as used, copied into the run folder so the run is self-contained."""
    dst = out / "teacher"
    if (dst / "world.json").exists() and (dst / "world.json").read_bytes() == (
        src / "world.json"
    ).read_bytes():
        return dst
    with renamed_into_place(dst) as tmp:
        shutil.copytree(src, tmp)
        shutil.rmtree(dst, ignore_errors=True)
    return dst


def make_engine(cfg: DemoConfig, model: Path):
    """The sampling engine of the demo: transformers on CPU by default, vLLM when asked."""
    if cfg.engine == "vllm":
        from reasoning_distill.generation.factory import make_engine as factory

        # the model's own context: the quick teacher's is 256, the full one's larger
        context = json.loads((model / "config.json").read_text())["max_position_embeddings"]
        return factory("vllm", str(model), dtype="float32", max_model_len=context)
    from reasoning_distill.generation.hf_engine import HFEngine

    # Worker processes pay a few seconds of start-up (torch and transformers imports) per
    # engine: worth it for the full demo's thousands of samples, not for the quick one's.
    workers = 1 if cfg.name == "quick" else cfg.workers
    return HFEngine(model, batch_size=128, data_parallel=workers)


def demo_recipe(cfg: DemoConfig) -> Any:
    """The shipped toy recipe (`toy_math_code.yaml`) with the demo's sizes and sampling."""
    from reasoning_distill.data_recipes.recipe import RECIPES_DIR, Recipe, load_recipe

    data = load_recipe(RECIPES_DIR / "toy_math_code.yaml").model_dump(mode="json")
    sizes = {"math": cfg.train_math, "code": cfg.train_code}
    for src in data["sources"]:
        src["toy"].update(n=sizes[src["toy"]["kind"]], seed=cfg.seed, split="train")
    data["teacher"]["engine"] = cfg.engine
    data["teacher"]["sampling"].update(
        n=cfg.gen_n,
        temperature=cfg.gen_temperature,
        top_p=cfg.gen_top_p,
        max_tokens=cfg.max_tokens,
        seed=cfg.seed,
    )
    data["output"]["dir"] = "datasets/verified"
    return Recipe.model_validate(data)


def _run(cfg: DemoConfig, teacher: Path, out: Path, progress, until: str):
    """The toy recipe through `data_recipes.pipeline.run_recipe` (the path `rdistill build`
    takes), with the demo's own engine for the teacher copied into the run folder."""
    from reasoning_distill.data_recipes.pipeline import run_recipe

    return run_recipe(
        demo_recipe(cfg),
        root=out,
        out=out / "datasets" / "verified",
        work=out / "build",
        progress=progress,
        workers=cfg.workers,
        engine_factory=lambda: make_engine(cfg, teacher),
        until=until,
        # prepare_out already refused other settings unless --force: then redo what changed
        rebuild=True,
    )


class _Summary(dict):
    def to_dict(self) -> dict[str, Any]:
        return dict(self)


def generate_traces(cfg: DemoConfig, teacher: Path, problems: list[Problem], out: Path, progress):
    """Teacher samples for the train problems, in the recipe's store (`out/build/generations`).

    `problems` are the ones `make_problems` wrote; the recipe draws the same ones."""
    from reasoning_distill.generation.store import Store
    from reasoning_distill.generation.summary import summarize_store

    run = _run(cfg, teacher, out, progress, "generate")
    want = {p.id for p in problems}
    if {p["id"] for p in _recipe_problems(out)} != want:
        raise DemoStageError(
            f"the toy recipe drew other problems than {out / 'problems' / 'train.jsonl'}: "
            "the toy tasks changed; rerun with a new --out"
        )
    gen = run.work / "generations"
    return _Summary(summarize_store(Store(gen), {p.id: p for p in problems}, cfg.gen_n))


def _recipe_problems(out: Path) -> list[dict]:
    path = out / "build" / "problems.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def verify_traces(cfg: DemoConfig, out: Path, progress) -> tuple[list[Sample], list[Any], dict]:
    """Keyed verdicts for every trace (`out/build/generations/verdicts.jsonl`, the format of
    `rdistill verify --samples`), and the yield by reason in `out/verification/summary.json`."""
    from reasoning_distill.verification import read_store, read_verdicts, yield_by_reason

    run = _run(cfg, Path(out) / "teacher", out, progress, "verify")
    gen = run.work / "generations"
    samples = read_store(gen)
    records = read_verdicts(gen)
    verdicts = [records[s.key].verdict() for s in samples]
    folder = out / "verification"
    folder.mkdir(exist_ok=True)
    summary = {"all": yield_by_reason(verdicts)}
    for kind in ("math", "code"):
        summary[kind] = yield_by_reason(
            [v for s, v in zip(samples, verdicts, strict=True) if s.kind == kind]
        )
    summary["verdicts_file"] = str(gen / "verdicts.jsonl")
    summary["sandbox"] = sandbox_record(samples)
    write_json(folder / "summary.json", summary)
    return samples, verdicts, summary


def sandbox_record(samples: list[Sample]) -> dict:
    """Which isolation the demo's code verification ran under. The demo's own toy programs
    may run under the weaker one (no bubblewrap), where `rdistill verify` and `build` refuse
    untrusted code without `--allow-weak-sandbox`; the report says which it was."""
    n_code = sum(s.kind == "code" for s in samples)
    if not n_code:
        return {"isolation": "not used", "code_samples": 0}
    from reasoning_distill.verifiers.sandbox import sandbox_info
    from reasoning_distill.verifiers.sandbox_policy import STRONG, WHAT_WEAK_ALLOWS

    isolation = sandbox_info()["isolation"]
    record = {"isolation": isolation, "code_samples": n_code, "bubblewrap": isolation == STRONG}
    if isolation != STRONG:
        record["note"] = f"weaker than bubblewrap: {WHAT_WEAK_ALLOWS} (the demo's own programs)"
    return record


def build_datasets(
    cfg: DemoConfig, samples: list[Sample], verdicts: list[Any], out: Path
) -> dict[str, Path]:
    """The three SFT datasets, all by `data_recipes.dataset.build_dataset` from one store:
    verified (the recipe's own output), unverified (every trace: `keep: all`) and
    answer_only (the verified traces with the reasoning removed)."""
    from reasoning_distill.data_recipes.dataset import build_dataset
    from reasoning_distill.data_recipes.select import SelectPolicy

    if not any(v.correct for v in verdicts):
        raise DemoStageError(
            f"none of the {len(verdicts)} teacher traces passed verification (see "
            f"{out / 'verification' / 'summary.json'}): the teacher is too weak to distil; "
            "train it longer (more teacher steps) or sample more traces"
        )
    run = _run(cfg, Path(out) / "teacher", out, None, "write")
    gen = run.work / "generations"
    paths = {"verified": run.out}
    descriptions = {
        "unverified": "Every teacher trace, right or wrong.",
        "answer_only": "The verified traces' final answers with the reasoning removed.",
    }
    for name, policy, answer_only in (
        ("unverified", SelectPolicy(keep="all"), False),
        ("answer_only", SelectPolicy(keep="verified"), True),
    ):
        card = {"title": f"toy distillation: {name}", "description": descriptions[name]}
        result = build_dataset(
            gen, out / "datasets" / name, policy, answer_only=answer_only, card=card
        )
        paths[name] = result.path
    return paths


def train_arm(job: dict[str, Any]) -> dict[str, Any]:
    """Train one student arm (runs in a child process, one torch thread unless told)."""
    import torch

    threads = job.get("threads", 1)
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    from reasoning_distill.training.callbacks import StepFileCallback
    from reasoning_distill.training.distill_config import DistillConfig
    from reasoning_distill.training.distill_trainer import train_distill
    from reasoning_distill.training.sft_config import StudentSFTConfig
    from reasoning_distill.training.sft_trainer import train_sft

    common = dict(
        per_device_train_batch_size=job["batch_size"],
        seed=job["seed"],
        torch_num_threads=threads,
        logging_steps=10,
        resume=True,  # a killed demo continues each arm from its newest checkpoint
        **job.get("config", {}),  # the recipe's schedule (warmup, decay), as TrainingArguments
    )
    callbacks = [StepFileCallback(job["step_file"])]
    if job["kind"] == "sft":
        config = StudentSFTConfig(max_steps=job["steps"], learning_rate=job["lr"], **common)
        result = train_sft(job["init"], None, job["dataset"], job["out"], config, callbacks)
    else:
        # Reverse KL to the teacher in memory, off-policy on the dataset's traces, or on the
        # student's own samples scored by the teacher.
        mode = job.get("mode", "off_policy")
        config = DistillConfig(
            max_steps=job["steps"],
            learning_rate=job["lr"],
            divergence="reverse_kl",
            teacher=str(job["teacher"]),
            mode=mode,
            **({"max_new_tokens": job["max_new_tokens"]} if mode != "off_policy" else {}),
            **common,
        )
        result = train_distill(job["init"], job["dataset"], job["out"], config, callbacks)
    return {
        "arm": job["arm"],
        "checkpoint": str(result.checkpoint),
        "steps": result.steps,
        "first_loss": result.first_loss,
        "last_loss": result.last_loss,
        "train_runtime_s": result.train_runtime_s,
    }


def train_arms(jobs: dict[str, dict[str, Any]], workers: int, first=None):
    """Train every job not yet done, `workers` at a time in spawned single-threaded
    processes, each result saved as OUT/demo_result.json (a rerun reuses it). Yields
    (name, result, trained_now) in the order they finish, the saved ones first; `first(name)`
    ranks what to start first (e.g. the slowest arms, so the pool does not end on one alone)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from reasoning_distill.atomic import atomic_write_json

    todo = []
    for name, job in jobs.items():
        done = Path(job["out"]) / "demo_result.json"
        if done.exists():
            yield name, json.loads(done.read_text()), False
        else:
            todo.append(name)
    todo.sort(key=first or (lambda n: 0))
    if not todo:
        return
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(train_arm, jobs[n]): n for n in todo}
        for fut in as_completed(futures):
            name = futures[fut]
            result = fut.result()
            atomic_write_json(Path(jobs[name]["out"]) / "demo_result.json", result)
            yield name, result, True
