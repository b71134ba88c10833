"""The final checkpoint of a training stage, saved atomically, and the `TrainResult` about it.

A run directory holds `final/` (model + tokenizer, what later stages load), `train_log.json`
(this `TrainResult`), and `checkpoint-N/` only when intermediate saves were asked for. `final/`
is written as `final.tmp/` and renamed, so a half-written checkpoint is never mistaken for a
finished one after an interrupted run. The Trainer writes `checkpoint-N/` in place; a resume
starts from the newest one that is complete (`last_complete_checkpoint`) and names the ones
it passes over. The folder is ours only when it holds `RUN_MARKER`, written first.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reasoning_distill.atomic import atomic_write_json, replace_dir
from reasoning_distill.errors import OutputError

logger = logging.getLogger(__name__)

FINAL_DIR = "final"
ADAPTER_DIR = "adapter"
RUN_MARKER = ".rdistill-train-run"
LOG_FILE = "train_log.json"
TRAINER_STATE = "trainer_state.json"  # the Trainer writes it last into a checkpoint
# weights of a plain, LoRA, FSDP or DeepSpeed checkpoint
WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin", "adapter_model.*", "*_fsdp*", "global_step*")
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainResult:
    """What a training stage produced: where the model is, and how its loss went."""

    checkpoint: Path  # the saved final model + tokenizer (load it with from_pretrained)
    steps: int  # optimiser steps actually taken
    losses: list[float]  # logged training loss, one per logging step
    loss_steps: list[int]  # the step of each entry in `losses`
    train_runtime_s: float
    first_loss: float  # mean of the first `loss_window` logged losses (fewer if the run is short)
    last_loss: float  # mean of the last `loss_window` logged losses (never overlapping the first)
    metrics: dict[str, list[float]] = field(default_factory=dict)  # other logged series
    world_size: int = 1  # training processes (data-parallel ranks)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["checkpoint"] = str(self.checkpoint)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainResult:
        return cls(**{**d, "checkpoint": Path(d["checkpoint"])})


def result_from_log_history(
    checkpoint: Path,
    log_history: list[dict[str, Any]],
    steps: int,
    train_runtime_s: float,
    window: int,
    world_size: int = 1,
) -> TrainResult:
    """Build a `TrainResult` from a HF `Trainer`'s `state.log_history`."""
    entries = [e for e in log_history if "loss" in e and "step" in e]
    losses = [float(e["loss"]) for e in entries]
    metrics: dict[str, list[float]] = {}
    for e in entries:
        for k, v in e.items():
            if k not in ("loss", "step", "epoch") and isinstance(v, (int, float)):
                metrics.setdefault(k, []).append(float(v))

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else math.nan

    # Short runs: shrink the window so that the first and last windows never overlap.
    window = max(1, min(window, len(losses) // 2))

    return TrainResult(
        checkpoint=checkpoint,
        steps=steps,
        losses=losses,
        loss_steps=[int(e["step"]) for e in entries],
        train_runtime_s=train_runtime_s,
        first_loss=mean(losses[:window]),
        last_loss=mean(losses[-window:]),
        metrics=metrics,
        world_size=world_size,
    )


def enable_kv_cache(model) -> None:
    """Save the student with `use_cache: true`: training turns it off (gradient checkpointing
    needs no KV cache), and a config saved so makes every later `generate` recompute the whole
    prefix at each token."""
    config = getattr(model, "config", None)
    if config is None:
        return
    text = config.get_text_config() if hasattr(config, "get_text_config") else None
    for cfg in {id(c): c for c in (config, text) if c is not None}.values():
        if hasattr(cfg, "use_cache"):
            cfg.use_cache = True


def save_final(trainer, tokenizer, run_dir: Path) -> Path:
    """Save model + tokenizer to `run_dir/final` atomically (write `final.tmp`, then rename).

    Called on every rank: `Trainer.save_model` gathers sharded (ZeRO-3, FSDP) weights and
    writes on the main process only. A LoRA run saves its adapter to `run_dir/adapter` and the
    merged full model to `final/`, so every later stage (eval, vLLM) loads a plain model (under
    ZeRO-3 or FSDP, where no rank holds the whole base model, `final/` is the adapter).
    """
    main = trainer.accelerator.is_main_process
    final = run_dir / FINAL_DIR
    tmp = run_dir / (FINAL_DIR + ".tmp")
    if main and tmp.exists():  # left by an interrupted run: never reused
        shutil.rmtree(tmp)
    trainer.accelerator.wait_for_everyone()
    model = trainer.accelerator.unwrap_model(trainer.model)
    enable_kv_cache(model)
    sharded = bool(getattr(trainer, "is_deepspeed_enabled", False)) or bool(
        getattr(trainer, "is_fsdp_enabled", False)
    )
    if _is_peft(model) and sharded:
        # Sharded base weights cannot be merged on one rank: final/ holds the adapter.
        trainer.save_model(str(tmp))
        if main:
            tokenizer.save_pretrained(str(tmp))
            logger.warning(
                "LoRA under ZeRO-3/FSDP: %s holds the adapter only; merge it into the base "
                "model on one process (peft's merge_and_unload) before evaluating",
                final,
            )
    elif _is_peft(model):
        adapter_tmp = run_dir / (ADAPTER_DIR + ".tmp")
        trainer.save_model(str(adapter_tmp))
        if main:
            replace_dir(adapter_tmp, run_dir / ADAPTER_DIR, "adapter_config.json")
            merged = model.merge_and_unload()
            merged.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
    else:
        trainer.save_model(str(tmp))
        if main:
            tokenizer.save_pretrained(str(tmp))
    if main:
        replace_dir(tmp, final, "tokenizer_config.json")  # an older final/ of this run
    trainer.accelerator.wait_for_everyone()
    return final


def _is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def write_result(result: TrainResult, run_dir: Path) -> None:
    """Write `train_log.json` (atomically) next to the final checkpoint."""
    atomic_write_json(run_dir / LOG_FILE, result.to_json(), indent=2)


def check_run_dir(output_dir: str | Path) -> Path:
    """Refuse (OutputError) a run folder this command may not write into, writing nothing.

    Ours: absent, empty, or holding `RUN_MARKER` (written by `claim_run_dir` before anything
    else). A folder that merely holds a `final/` or a `train_log.json` is not ours: those names
    are common, and training replaces both.
    """
    run_dir = Path(output_dir)
    if not run_dir.exists() and not run_dir.is_symlink():
        return run_dir
    if not run_dir.is_dir():
        raise OutputError(
            f"{run_dir}: exists and is not a folder; choose another output_dir for the run"
        )
    if (run_dir / RUN_MARKER).is_file() or not any(run_dir.iterdir()):
        return run_dir
    raise OutputError(
        f"{run_dir}: folder holds files that no training run of ours wrote (no {RUN_MARKER}); "
        f"nothing was written to it: choose a new or empty output_dir"
    )


def claim_run_dir(output_dir: str | Path) -> Path:
    """Create the run folder `output_dir` and mark it ours, before anything else is written.

    Refuses (OutputError) what `check_run_dir` refuses, or a folder that cannot be written.
    """
    run_dir = check_run_dir(output_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if int(os.environ.get("RANK", "0")) == 0 and not (run_dir / RUN_MARKER).is_file():
            # written in place, not via a temporary: another rank checking the folder at this
            # moment must see it empty or marked, never holding a stranger's file
            (run_dir / RUN_MARKER).write_text("written by reasoning_distill.training\n")
    except OSError as e:
        raise OutputError(f"cannot write the training output folder {run_dir}: {e}") from e
    return run_dir


prepare_run_dir = claim_run_dir  # the name the reverse-KL stage imports


def checkpoint_problem(path: Path) -> str | None:
    """Why `checkpoint-N/` cannot be resumed from, or None when it is complete.

    The Trainer writes a checkpoint's weights, then its optimiser, scheduler and RNG state, and
    `trainer_state.json` last: a save killed part-way leaves a folder without it (often only
    `config.json`), or with a truncated one.
    """
    state = path / TRAINER_STATE
    if not state.is_file():
        return f"no {TRAINER_STATE}: its save was interrupted"
    try:
        json.loads(state.read_text())
    except (ValueError, UnicodeDecodeError):
        return f"{TRAINER_STATE} is cut short: its save was interrupted"
    if not any(next(path.glob(pattern), None) for pattern in WEIGHT_FILES):
        return "no model weights in it"
    return None


def checkpoints(run_dir: Path) -> list[Path]:
    """The run's `checkpoint-N` folders, newest (highest N) first."""
    found = []
    if run_dir.is_dir():
        for entry in run_dir.iterdir():
            m = _CHECKPOINT_RE.match(entry.name)
            if m and entry.is_dir():
                found.append((int(m[1]), entry))
    return [p for _, p in sorted(found, reverse=True)]


def last_complete_checkpoint(run_dir: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest complete checkpoint and the newer incomplete ones passed over (with why)."""
    skipped = []
    for path in checkpoints(run_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            return path, skipped
        skipped.append((path, problem))
    return None, skipped
