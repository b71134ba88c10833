"""The demo's stages, each writing artifacts a person can open, each safe to rerun."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning_distill.demo.config import DemoConfig
from reasoning_distill.records import Problem, Sample

logger = logging.getLogger(__name__)


class DemoStageError(RuntimeError):
    """A stage that cannot produce its artifact; the message says what to change."""


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary name, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, path)


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
    tmp = out / f".teacher.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(dst, ignore_errors=True)
    os.replace(tmp, dst)
    return dst


def make_engine(cfg: DemoConfig, model: Path):
    """The sampling engine of the demo: transformers on CPU by default, vLLM when asked."""
    if cfg.engine == "vllm":
        from reasoning_distill.generation.factory import make_engine as factory

        return factory("vllm", str(model), dtype="float32", max_model_len=512)
    from reasoning_distill.generation.hf_engine import HFEngine

    # Worker processes pay a few seconds of start-up (torch and transformers imports) per
    # engine: worth it for the full demo's thousands of samples, not for the quick one's.
    workers = 1 if cfg.name == "quick" else cfg.workers
    return HFEngine(model, batch_size=128, data_parallel=workers)


def generate_traces(cfg: DemoConfig, teacher: Path, problems: list[Problem], out: Path, progress):
    from reasoning_distill.generation.engine import SamplingParams
    from reasoning_distill.generation.job import run_generation

    params = SamplingParams(
        n=cfg.gen_n,
        temperature=cfg.gen_temperature,
        top_p=cfg.gen_top_p,
        max_tokens=cfg.max_tokens,
        seed=cfg.seed,
    )
    engine = make_engine(cfg, teacher)
    try:
        return run_generation(problems, engine, params, out / "generations", progress=progress)
    finally:
        engine.close()


def verify_traces(cfg: DemoConfig, out: Path, progress) -> tuple[list[Sample], list[Any], dict]:
    """Verdicts for every generated trace, saved beside them with the yield by reason."""
    from reasoning_distill.generation.store import load_samples
    from reasoning_distill.verification import verify_samples, yield_by_reason

    samples = sorted(load_samples(out / "generations"), key=lambda s: s.key)
    verdicts = verify_samples(samples, workers=cfg.workers, progress=progress)
    folder = out / "verification"
    folder.mkdir(exist_ok=True)
    write_jsonl(
        folder / "verdicts.jsonl",
        [
            {
                "problem_id": s.problem_id,
                "sample_index": s.sample_index,
                "kind": s.kind,
                **v.to_dict(),
            }
            for s, v in zip(samples, verdicts, strict=True)
        ],
    )
    summary = {"all": yield_by_reason(verdicts)}
    for kind in ("math", "code"):
        summary[kind] = yield_by_reason(
            [v for s, v in zip(samples, verdicts, strict=True) if s.kind == kind]
        )
    write_json(folder / "summary.json", summary)
    return samples, verdicts, summary


def build_datasets(
    cfg: DemoConfig, samples: list[Sample], verdicts: list[Any], out: Path
) -> dict[str, Path]:
    """The three SFT datasets: unverified (all traces), verified, answer_only (no reasoning)."""
    from reasoning_distill.data_recipes.messages import (
        assistant_text,
        to_messages_row,
        write_dataset,
    )

    def row(s: Sample, v: Any, with_reasoning: bool) -> dict[str, Any]:
        content = s.completion if with_reasoning else assistant_text("", s.answer)
        meta = {
            "problem_id": s.problem_id,
            "sample_index": s.sample_index,
            "kind": s.kind,
            "verdict": v.reason,
        }
        return to_messages_row(s.messages[-1]["content"], content, meta)

    pairs = list(zip(samples, verdicts, strict=True))
    kept = [(s, v) for s, v in pairs if v.correct]
    rows = {
        "unverified": [row(s, v, True) for s, v in pairs],
        "verified": [row(s, v, True) for s, v in kept],
        "answer_only": [row(s, v, False) for s, v in kept],
    }
    descriptions = {
        "unverified": "Every teacher trace, right or wrong.",
        "verified": "Teacher traces that passed verification (format, then answer or tests).",
        "answer_only": "The verified traces' final answers with the reasoning removed.",
    }
    if not kept:
        raise DemoStageError(
            f"none of the {len(pairs)} teacher traces passed verification (see "
            f"{out / 'verification' / 'summary.json'}): the teacher is too weak to distil; "
            "train it longer (more teacher steps) or sample more traces"
        )
    paths = {}
    for name, data in rows.items():
        card = {
            "title": f"toy distillation: {name}",
            "description": descriptions[name],
            "teacher": str(out / "teacher"),
            "sampling": {
                "n": cfg.gen_n,
                "temperature": cfg.gen_temperature,
                "top_p": cfg.gen_top_p,
                "max_tokens": cfg.max_tokens,
            },
            "generated": len(pairs),
            "rows": len(data),
        }
        paths[name] = write_dataset(data, out / "datasets" / name, card)
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
    from reasoning_distill.training.config import ReverseKLConfig, StudentSFTConfig
    from reasoning_distill.training.rkl import train_reverse_kl
    from reasoning_distill.training.sft import train_sft

    common = dict(
        per_device_train_batch_size=job["batch_size"],
        seed=job["seed"],
        torch_num_threads=threads,
        logging_steps=10,
        resume=True,  # a killed demo continues each arm from its newest checkpoint
    )
    callbacks = [StepFileCallback(job["step_file"])]
    if job["kind"] == "sft":
        config = StudentSFTConfig(max_steps=job["steps"], learning_rate=job["lr"], **common)
        result = train_sft(job["init"], None, job["dataset"], job["out"], config, callbacks)
    else:
        config = ReverseKLConfig(max_steps=job["steps"], learning_rate=job["lr"], **common)
        result = train_reverse_kl(
            job["init"], job["teacher"], job["dataset"], job["out"], config, callbacks
        )
    return {
        "arm": job["arm"],
        "checkpoint": str(result.checkpoint),
        "steps": result.steps,
        "first_loss": result.first_loss,
        "last_loss": result.last_loss,
        "train_runtime_s": result.train_runtime_s,
    }
