"""Configs for the training stages: TRL's `SFTConfig` with defaults that are safe on a CPU.

They extend TRL's dataclasses (STYLE.md), so a YAML recipe or any `SFTConfig` field works,
and `__post_init__` rejects bad values with an error naming the field. What differs from TRL's
defaults, and why:

- `bf16=False`, `gradient_checkpointing=False`: TRL turns both on; on a CPU bf16 autocast is
  slow and checkpointing only costs time for tiny models.
- `max_steps` must be set (> 0): every student arm gets exactly the same number of optimiser
  steps, whatever its dataset size.
- `assistant_only_loss=True`: students learn the assistant turns (think block + answer), not
  the prompts; checked on a real batch before training.
- `report_to="none"`, `save_strategy="no"`, `disable_tqdm=True`, `logging_first_step=True`,
  no dataloader workers (spawn-safe, and workers only add overhead for tiny models).
- `learning_rate=1e-3`: TRL's 2e-5 is for fine-tuning large pretrained models; the toy
  students train from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import SFTConfig


@dataclass
class StudentSFTConfig(SFTConfig):
    """SFT of a student on a `messages` dataset, with CPU-safe defaults (see module docstring)."""

    max_steps: int = field(
        default=500,
        metadata={"help": "Exact number of optimiser steps (> 0); the same for every student arm."},
    )
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak AdamW learning rate."})
    per_device_train_batch_size: int = field(
        default=32, metadata={"help": "Sequences per optimiser step (per device)."}
    )
    assistant_only_loss: bool = field(
        default=True,
        metadata={
            "help": "Train only on assistant tokens (needs {% generation %} in the template)."
        },
    )
    bf16: bool | None = field(default=False, metadata={"help": "bf16 mixed precision (GPU only)."})
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Recompute activations in backward to save memory."}
    )
    logging_steps: float = field(
        default=10, metadata={"help": "Log (and record the loss) every this many steps."}
    )
    logging_first_step: bool = field(
        default=True, metadata={"help": "Also log step 1, so the first loss window is real."}
    )
    save_strategy: str = field(
        default="no",
        metadata={
            "help": "Intermediate checkpoints: 'no', 'steps' or 'epoch'. The final one is always saved."
        },
    )
    save_only_model: bool = field(
        default=True, metadata={"help": "Intermediate checkpoints without optimiser state."}
    )
    report_to: None | str | list[str] = field(
        default="none",
        metadata={"help": "'none', 'wandb', ... (wandb runs offline when no API key is set)."},
    )
    disable_tqdm: bool | None = field(default=True, metadata={"help": "Hide progress bars."})
    dataloader_num_workers: int = field(
        default=0, metadata={"help": "Dataloader worker processes (0: in the training process)."}
    )
    dataloader_pin_memory: bool = field(default=False, metadata={"help": "Pin host memory."})
    loss_window: int = field(
        default=5,
        metadata={"help": "How many logged losses TrainResult averages for its first/last loss."},
    )
    fused_lm_head: bool | None = field(
        default=None,
        metadata={
            "help": "Loss through TRL's chunked fused LM head (saves memory at large vocabularies) or "
            "from full logits (faster for small ones). None: fused from 32k tokens of vocabulary up."
        },
    )
    torch_num_threads: int | None = field(
        default=None,
        metadata={
            "help": "If set, torch.set_num_threads(n) before training (1 per process is fastest "
            "when two trainings share 2 cores). None leaves torch's setting alone."
        },
    )

    def __post_init__(self) -> None:
        self._validate()
        super().__post_init__()

    def _validate(self) -> None:
        import torch

        if not isinstance(self.max_steps, int) or self.max_steps <= 0:
            raise ValueError(
                f"max_steps must be an integer > 0 (an exact optimiser step count, so arms are "
                f"comparable); got {self.max_steps!r}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}")
        if self.per_device_train_batch_size < 1:
            raise ValueError(
                f"per_device_train_batch_size must be >= 1; got {self.per_device_train_batch_size!r}"
            )
        if self.loss_window < 1:
            raise ValueError(f"loss_window must be >= 1; got {self.loss_window!r}")
        if self.torch_num_threads is not None and self.torch_num_threads < 1:
            raise ValueError(
                f"torch_num_threads must be None or >= 1; got {self.torch_num_threads!r}"
            )
        if (self.bf16 or self.fp16) and not torch.cuda.is_available() and not self.use_cpu:
            raise ValueError(
                "bf16/fp16 mixed precision needs a GPU; set bf16=False and fp16=False on a CPU"
            )
        if self.dataloader_num_workers < 0:
            raise ValueError(
                f"dataloader_num_workers must be >= 0; got {self.dataloader_num_workers!r}"
            )


@dataclass
class ReverseKLConfig(StudentSFTConfig):
    """The white-box stage: reverse KL(student || teacher) on teacher-forced assistant tokens.

    loss = (1 - alpha) * reverse_kl + alpha * cross_entropy(dataset tokens).
    """

    max_steps: int = field(default=150, metadata={"help": "Exact number of optimiser steps (> 0)."})
    learning_rate: float = field(default=3e-4, metadata={"help": "Peak AdamW learning rate."})
    alpha: float = field(
        default=0.0,
        metadata={"help": "Weight of the SFT cross-entropy mixed into the loss, in [0, 1]."},
    )
    temperature: float = field(
        default=1.0, metadata={"help": "Softmax temperature for both distributions (> 0)."}
    )

    def _validate(self) -> None:
        super()._validate()
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1]; got {self.alpha!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0; got {self.temperature!r}")


def load_config(cls: type[StudentSFTConfig], path=None, overrides: dict | None = None):
    """`cls` from a YAML file of field values (defaults) plus `overrides` (flags win).

    Unknown keys and bad values raise ValueError naming the file and the field.
    """
    from pathlib import Path

    import yaml
    from transformers import HfArgumentParser

    values: dict = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"cannot read config {path}: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(
                f"config {path} must be a mapping of field: value, not {type(loaded).__name__}"
            )
        values.update(loaded or {})
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values.setdefault("output_dir", "unused")  # train_* functions take the run dir themselves
    try:
        (config,) = HfArgumentParser(cls).parse_dict(values, allow_extra_keys=False)
    except (TypeError, ValueError) as e:
        where = f" in {path}" if path is not None else ""
        raise ValueError(f"bad {cls.__name__}{where}: {e}") from e
    return config
