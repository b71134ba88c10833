"""Trainer callbacks that report to the outside world without printing."""

from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback

from reasoning_distill.atomic import atomic_write_text


class StepFileCallback(TrainerCallback):
    """Write the current optimiser step to a small file every `every` steps.

    A parent process that trains several students in child processes polls these files to
    draw one progress bar per student; the write is atomic (temporary name, then rename).
    """

    def __init__(self, path: str | Path, every: int = 10) -> None:
        self.path = Path(path)
        self.every = every

    def _write(self, step: int) -> None:
        atomic_write_text(self.path, str(step))

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.every == 0:
            self._write(state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        self._write(state.global_step)


def read_step(path: str | Path) -> int:
    """The step a `StepFileCallback` last wrote (0 when it has not written yet)."""
    try:
        return int(Path(path).read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0
