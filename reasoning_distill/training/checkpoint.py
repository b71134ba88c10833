"""The final checkpoint of a training stage, saved atomically, and the `TrainResult` about it.

A run directory holds `final/` (model + tokenizer, what later stages load), `train_log.json`
(this `TrainResult`), and `checkpoint-N/` only when intermediate saves were asked for. `final/`
is written as `final.tmp/` and renamed, so a half-written checkpoint is never mistaken for a
finished one after an interrupted run.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FINAL_DIR = "final"
LOG_FILE = "train_log.json"


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
    )


def save_final(model, tokenizer, run_dir: Path) -> Path:
    """Save model + tokenizer to `run_dir/final` atomically (write `final.tmp`, then rename)."""
    final = run_dir / FINAL_DIR
    tmp = run_dir / (FINAL_DIR + ".tmp")
    if tmp.exists():  # left by an interrupted run: never reused
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    if final.exists():
        logger.info("replacing the earlier final checkpoint in %s", final)
        old = run_dir / (FINAL_DIR + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    return final


def write_result(result: TrainResult, run_dir: Path) -> None:
    """Write `train_log.json` (atomically) next to the final checkpoint."""
    path = run_dir / LOG_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2))
    os.replace(tmp, path)


def prepare_run_dir(output_dir: str | Path) -> Path:
    """Create `output_dir` (or fail with a message naming it when it cannot be written)."""
    run_dir = Path(output_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write_probe"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise OSError(f"cannot write the training output directory {run_dir}: {e}") from e
    return run_dir
