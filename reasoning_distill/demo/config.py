"""The settings of the demo run: sizes, sampling, training and evaluation protocol."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from reasoning_distill.toy.models import STUDENT_ARCH, Arch
from reasoning_distill.toy.world import TeacherRecipe

# verified_rkl: verified, then the reverse-KL stage; verified_sft_eq: verified, then SFT for the
# same training FLOPs (its control: does the white-box stage beat spending the compute on SFT?)
ARMS = ("answer_only", "unverified", "verified", "verified_rkl", "verified_sft_eq")


@dataclass(frozen=True)
class DemoConfig:
    """Everything the demo's results depend on (its hash guards a resumed run)."""

    name: str = "full"  # "quick" for the small variant (its wall-time target is 3 minutes)
    teacher: TeacherRecipe = field(default_factory=TeacherRecipe)
    # Distillation prompts (the `train` split) and the held-out benchmarks.
    train_math: int = 3000
    train_code: int = 600
    heldout_math: int = 300
    heldout_code: int = 100
    # Teacher sampling for the training traces: temperature 1.0, so a real share is wrong.
    gen_n: int = 4
    gen_temperature: float = 1.0
    gen_top_p: float = 1.0
    max_tokens: int = 96
    engine: str = "hf"  # "hf" or "vllm"
    # Students: same architecture, same initialisation, same optimiser steps per arm.
    student_arch: Arch = STUDENT_ARCH
    # Measured (benchmarks/demo_seed_spread.py, 3 seeds of verified): 1000 steps left the loss
    # falling and toy_math at 0.59, 0.57, 0.44 (sd 0.08); 2000 steps gave 0.80, 0.74, 0.77.
    sft_steps: int = 2000
    sft_batch_size: int = 32
    sft_lr: float = 3e-3
    sft_scheduler: str = "linear"  # transformers' lr_scheduler_type, decaying to 0 at the end
    sft_warmup: float = 0.0  # warmup steps (a float below 1: a share of the steps)
    rkl_steps: int = 150
    rkl_lr: float = 3e-4
    # Evaluation protocol, identical for the teacher and every student.
    eval_n: int = 4
    eval_temperature: float = 0.6
    eval_top_p: float = 0.95
    eval_seed: int = 1234
    seed: int = 0
    # Training seeds per arm (seed + 0, seed + 1, ...): same initialisation and data, another
    # data order. A recipe is judged over seeds; one seed leaves seed variance unmeasured.
    seeds: int = 3
    workers: int = 2  # processes: sampling, verification and the two-at-a-time training arms
    # The first line of report.md (and the figure's title): where a run cannot rank the arms,
    # it says so before any number is read.
    report_title: str = "rdistill demo: teacher-gap report"

    def key(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def quick(cls) -> DemoConfig:
        """A small run for tests and smoke checks (minutes, not the targets)."""
        return cls(
            name="quick",
            # Measured: its 250-step teacher and 40-step students score near 0, so the arms'
            # order is noise; what it shows is that every stage runs and writes its files.
            report_title="rdistill demo --quick: a plumbing check only; its models are too "
            "small to rank the arms (run rdistill demo for that)",
            teacher=replace(TeacherRecipe(), math_problems=1500, code_problems=500, steps=250),
            train_math=120,
            train_code=40,
            heldout_math=40,
            heldout_code=20,
            gen_n=2,
            sft_steps=40,
            rkl_steps=10,
            eval_n=2,
            seeds=1,
        )


def load_demo_config(demo: Path) -> DemoConfig:
    """The settings of a finished demo run in `demo` (its run.json), for scripts that add to
    it (benchmarks/kd_helps.py, benchmarks/demo_seed_spread.py); `ValueError` if unfinished."""
    from dataclasses import fields

    from reasoning_distill.toy.models import Arch

    run, report = demo / "run.json", demo / "report.json"
    if not run.exists() or not report.exists():
        raise ValueError(f"{demo} is not a finished demo run (no run.json/report.json)")
    saved = json.loads(run.read_text())["config"]
    known = {f.name for f in fields(DemoConfig)}
    values = {k: v for k, v in saved.items() if k in known}
    values["teacher"] = TeacherRecipe(**values["teacher"])
    values["student_arch"] = Arch(**values["student_arch"])
    return DemoConfig(**values)


def run_key(demo: Path) -> str:
    """The config key a finished demo run in `demo` was made with (its run.json): what the
    scripts that add to it record, so the report takes their figures even after DemoConfig
    gained a setting (which changes `DemoConfig.key()` of the same run)."""
    return json.loads((Path(demo) / "run.json").read_text())["config_key"]


def load_addition(path: Path, config_key: str) -> dict | None:
    """What a script wrote into a demo run (kd_helps.json, sweep.json), or None when it is
    absent, unreadable or was measured on a demo run with other settings."""
    import logging

    log = logging.getLogger(__name__)
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        log.warning("ignoring %s: %s", path, e)
        return None
    if not isinstance(saved, dict) or saved.get("demo_config_key") != config_key:
        log.warning("ignoring %s: it was measured on a demo run with other settings", path)
        return None
    return saved
