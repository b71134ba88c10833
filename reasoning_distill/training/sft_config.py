"""The SFT stage's config: TRL's `SFTConfig` with defaults that are safe on a CPU, and the script
arguments of its command line.

Every field is a command-line flag and a recipe key: the commands (`scripts/`) parse
`(SFTScriptArguments, StudentSFTConfig, trl.ModelConfig)` with `trl.TrlParser`, so
`--config recipe.yaml` gives defaults and flags override them. `output_dir` is the run folder:
checkpoints, `final/` and `train_log.json` all land there. `__post_init__` rejects bad values
with an error naming the field. What differs from TRL's defaults, and why:

- `bf16=False`, `gradient_checkpointing=False`: TRL turns both on; on a CPU bf16 autocast is
  slow and checkpointing only costs time for tiny models. GPU recipes set both.
- `max_steps` is set (> 0): every student arm gets exactly the same number of optimiser
  steps, whatever its dataset size (-1 trains `num_train_epochs` epochs instead).
- `assistant_only_loss=True`: students learn the assistant turns (think block, answer, EOS),
  not the prompts; checked before training (`training/check.py`) and on a real batch.
- Periodic checkpoints every 500 steps, the last 2 kept, with optimiser state, so `--resume`
  continues a killed run where its last checkpoint stopped.
- `report_to="none"`, `disable_tqdm=True`, `logging_first_step=True`, no dataloader workers
  (spawn-safe, and workers only add overhead for tiny models).
- `learning_rate=1e-3`: TRL's 2e-5 is for fine-tuning large pretrained models; the toy
  students train from scratch.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from dataclasses import dataclass, field
from typing import Any

from trl import SFTConfig

from reasoning_distill.errors import ConfigError


@dataclass
class SFTScriptArguments:
    """What to train on: the dataset and, when it differs from the model's, the tokenizer."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "The training data: a save_to_disk folder, a .jsonl file or a Hub dataset id, "
            "with a 'messages' column (or TRL's text / prompt-completion)."
        },
    )
    dataset_config: str | None = field(
        default=None, metadata={"help": "The configuration of a Hub dataset (its subset)."}
    )
    dataset_train_split: str = field(
        default="train", metadata={"help": "The split to train on (folders with splits, Hub)."}
    )
    tokenizer_name_or_path: str | None = field(
        default=None, metadata={"help": "Tokenizer folder (default: the model's own)."}
    )


# Counts and lengths that must be whole numbers >= 1 when set (None keeps TRL's meaning), and
# step intervals that must be > 0: TRL and the Trainer accept a negative max_length (it cuts
# every row's last tokens) or a batch size of True (bool is an int in Python).
POSITIVE_INTS = (
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "eval_accumulation_steps",
    "max_length",
    "max_prompt_length",
    "max_completion_length",
    "max_new_tokens",
    "loss_window",
    "torch_num_threads",
    "save_total_limit",
    "dataset_num_proc",
    "dataloader_prefetch_factor",
    "torch_empty_cache_steps",
    "top_k",
    "chunk_size",
)
POSITIVE_NUMBERS = ("logging_steps", "save_steps", "eval_steps")
_TYPE_WORDS = re.compile(r"\b(int|float|bool|str|None|NoneType|dict|list|Any)\b")


def _type_words(annotation: Any) -> set[str]:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None)
    return set(_TYPE_WORDS.findall(text or str(annotation)))


def check_field_types(config: Any) -> None:
    """Refuse a numeric field whose value is of another type (a recipe's `max_steps: true`, a
    `learning_rate: "fast"`): YAML values reach the dataclass as they are, and Python counts a
    bool as an int. Fields that also take strings, lists or dicts are left to TRL.
    """
    for f in dataclasses.fields(config):
        words = _type_words(f.type) - {"None", "NoneType"}
        if not words or not words <= {"int", "float"}:
            continue
        value = getattr(config, f.name)
        # None is "unset" (HfArgumentParser rewrites `int | None` to `int` in the fields, so
        # the annotation cannot tell); the checks that need a value make their own.
        if value is None:
            continue
        ok = isinstance(value, (int, float)) if "float" in words else isinstance(value, int)
        if isinstance(value, bool) or not ok:
            want = "a number" if "float" in words else "a whole number"
            raise ConfigError(f"{f.name} must be {want}; got {value!r}")


def check_positive(config: Any, ints: tuple[str, ...], numbers: tuple[str, ...]) -> None:
    """Refuse a set count or length below 1 and a set step interval <= 0, naming the field."""
    for name in ints:
        value = getattr(config, name, None)
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be a whole number >= 1; got {value!r}")
    for name in numbers:
        value = getattr(config, name, None)
        if value is not None and not value > 0:
            raise ConfigError(f"{name} must be > 0; got {value!r}")


@dataclass
class StudentSFTConfig(SFTConfig):
    """SFT of a student on a `messages` dataset, with CPU-safe defaults (see module docstring)."""

    max_steps: int = field(
        default=500,
        metadata={
            "help": "Exact number of optimiser steps (> 0; the same for every student arm), or "
            "-1: num_train_epochs epochs."
        },
    )
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak AdamW learning rate."})
    per_device_train_batch_size: int = field(
        default=32, metadata={"help": "Sequences per optimiser step (per device)."}
    )
    assistant_only_loss: bool = field(
        default=True,
        metadata={
            "help": "Train only on assistant tokens. Known templates without {%% generation %%} "
            "markers are swapped for TRL's training variant; unknown ones are refused."
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
        default="steps",
        metadata={
            "help": "Intermediate checkpoints: 'no', 'steps' or 'epoch'. The final model is "
            "always saved to OUTPUT_DIR/final."
        },
    )
    save_steps: float = field(
        default=500, metadata={"help": "Checkpoint every this many steps (a float < 1: a share)."}
    )
    save_total_limit: int | None = field(
        default=2, metadata={"help": "Keep only the newest this many checkpoint-N folders."}
    )
    save_only_model: bool = field(
        default=False,
        metadata={"help": "Checkpoints without optimiser/scheduler/RNG state (cannot --resume)."},
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "Longest tokenised sample (longer ones are truncated; with packing, the length "
            "of a packed row). None: the model's context (max_position_embeddings)."
        },
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue from the newest OUTPUT_DIR/checkpoint-N (model, optimiser, "
            "scheduler, data position); starts fresh, saying so, when there is none."
        },
    )
    skip_check: bool = field(
        default=False,
        metadata={"help": "Do not run the pre-flight check (`rdistill train check`) first."},
    )
    max_truncated_share: float = field(
        default=0.01,
        metadata={
            "help": "The pre-flight check fails when more than this share of samples is longer "
            "than max_length (and would be truncated)."
        },
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

        check_field_types(self)
        check_positive(self, POSITIVE_INTS, POSITIVE_NUMBERS)
        epochs = self.max_steps == -1 and self.num_train_epochs > 0
        if not isinstance(self.max_steps, int) or (self.max_steps <= 0 and not epochs):
            raise ConfigError(
                f"max_steps must be an integer > 0 (an exact optimiser step count, so arms are "
                f"comparable), or -1 to train num_train_epochs epochs; got {self.max_steps!r}"
            )
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0; got {self.learning_rate!r}")
        if not 0.0 <= self.max_truncated_share <= 1.0:
            raise ConfigError(
                f"max_truncated_share must be in [0, 1]; got {self.max_truncated_share!r}"
            )
        if (self.bf16 or self.fp16) and not torch.cuda.is_available() and not self.use_cpu:
            raise ConfigError(
                "bf16/fp16 mixed precision needs a GPU; set bf16=False and fp16=False on a CPU"
            )
        if self.use_liger_kernel and importlib.util.find_spec("liger_kernel") is None:
            raise ConfigError(
                "use_liger_kernel=True but liger-kernel is not installed (it needs a CUDA GPU and "
                "Triton): pip install liger-kernel on the GPU machine, or set use_liger_kernel=False"
            )
        if self.dataloader_num_workers < 0:
            raise ConfigError(
                f"dataloader_num_workers must be >= 0; got {self.dataloader_num_workers!r}"
            )
        if self.padding_free and not self.packing and self.max_length is not None:
            raise ConfigError(
                "padding_free=True without packing needs max_length=None (TRL cannot truncate "
                "padding-free batches); set packing=True or max_length: null"
            )
        if self.resume and self.save_only_model:
            raise ConfigError(
                "resume=True needs checkpoints with optimiser state; set save_only_model=False"
            )
