"""`DistillConfig`: the white-box distillation stage's settings, on top of `StudentSFTConfig`.

loss = (1 - alpha) * scale * D(student, teacher) + alpha * cross_entropy(dataset tokens)

where D is the chosen divergence (see `reasoning_distill.training.losses`) averaged over the
trained tokens and `scale` is temperature**2 when `hinton_scaling` is on (the default). Hinton's
T^2 keeps the gradient's size independent of the temperature (softening by T shrinks the
gradients by about 1/T^2), so a change of temperature does not silently change the learning
rate or the balance with the cross-entropy term; at temperature 1 it changes nothing.

Where the teacher comes from (exactly one):
- `teacher`: a checkpoint folder: full-vocabulary loss, computed in chunks from both models'
  hidden states, so no (B, T, V) logits are held;
- `teacher_cache`: a folder written by `build_topk_cache` (top-k log-probs plus a tail bucket),
  no teacher in memory (off-policy only: the student's own samples are not in a cache);
- `teacher_url` (+ `teacher_name`): a vLLM OpenAI-compatible server scored through
  `prompt_logprobs` with `top_k` tokens per position.

Modes: `off_policy` trains on the dataset's traces, teacher-forced; `on_policy` samples a
completion from the current student for each prompt of the batch and trains on the student's
own tokens; `mixed` does the latter for a share `lmbda` of the batches (TRL GKD's lmbda).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reasoning_distill.errors import ConfigError
from reasoning_distill.training.losses import DIVERGENCES
from reasoning_distill.training.sft_config import StudentSFTConfig

MODES = ("off_policy", "on_policy", "mixed")


@dataclass
class DistillConfig(StudentSFTConfig):
    """White-box distillation of a student toward a teacher (see the module docstring)."""

    max_steps: int = field(default=150, metadata={"help": "Exact number of optimiser steps (> 0)."})
    learning_rate: float = field(default=3e-4, metadata={"help": "Peak AdamW learning rate."})
    divergence: str = field(
        default="reverse_kl", metadata={"help": f"One of {', '.join(DIVERGENCES)}."}
    )
    temperature: float = field(
        default=1.0, metadata={"help": "Softmax temperature for both distributions (> 0)."}
    )
    beta: float = field(
        default=0.5,
        metadata={"help": "JSD's teacher weight in [0, 1]: 0 = forward KL, 1 = reverse KL."},
    )
    skew: float = field(
        default=0.1, metadata={"help": "Mixing weight of the skewed KLs, in [0, 1)."}
    )
    hinton_scaling: bool = field(
        default=True,
        metadata={"help": "Multiply the divergence by temperature**2 (Hinton's convention)."},
    )
    alpha: float = field(
        default=0.0,
        metadata={"help": "Weight of the hard-label cross-entropy on the tokens, in [0, 1]."},
    )
    mode: str = field(default="off_policy", metadata={"help": f"One of {', '.join(MODES)}."})
    lmbda: float = field(
        default=0.5, metadata={"help": "mixed mode: share of on-policy batches, in [0, 1]."}
    )
    max_new_tokens: int = field(
        default=128, metadata={"help": "on-policy: tokens the student samples per prompt."}
    )
    generation_temperature: float = field(
        default=1.0, metadata={"help": "on-policy: the student's sampling temperature (> 0)."}
    )
    teacher: str | None = field(
        default=None, metadata={"help": "Teacher checkpoint folder (full-vocabulary loss)."}
    )
    teacher_cache: str | None = field(
        default=None, metadata={"help": "Folder of cached teacher top-k log-probs."}
    )
    teacher_url: str | None = field(
        default=None,
        metadata={"help": "Base URL of a vLLM OpenAI-compatible server, e.g. http://h:8000/v1."},
    )
    teacher_name: str | None = field(
        default=None, metadata={"help": "The served teacher's model name (teacher_url only)."}
    )
    top_k: int = field(
        default=128, metadata={"help": "Served teacher: log-probs per position (>= 1)."}
    )
    chunk_size: int | None = field(
        default=None,
        metadata={"help": "Rows per chunk of the fused head loss (None: ~64 MiB of logits)."},
    )

    def _validate(self) -> None:
        # An empty value clears a teacher source a recipe set, so a flag can switch sources:
        # `--config R.yaml --teacher '' --teacher_cache DIR`.
        for name in ("teacher", "teacher_cache", "teacher_url", "teacher_name"):
            if getattr(self, name) == "":
                setattr(self, name, None)
        super()._validate()
        if self.divergence not in DIVERGENCES:
            raise ConfigError(
                f"divergence must be one of {', '.join(DIVERGENCES)}; got {self.divergence!r}"
            )
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0; got {self.temperature!r}")
        if not 0.0 <= self.beta <= 1.0:
            raise ConfigError(f"beta must be in [0, 1]; got {self.beta!r}")
        if not 0.0 <= self.skew < 1.0:
            raise ConfigError(f"skew must be in [0, 1); got {self.skew!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1]; got {self.alpha!r}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if not 0.0 <= self.lmbda <= 1.0:
            raise ConfigError(f"lmbda must be in [0, 1]; got {self.lmbda!r}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1; got {self.max_new_tokens!r}")
        if not self.generation_temperature > 0:
            raise ConfigError(
                f"generation_temperature must be > 0; got {self.generation_temperature!r}"
            )
        if self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1; got {self.top_k!r}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be None or >= 1; got {self.chunk_size!r}")
        if self.packing or self.padding_free:
            raise ConfigError(
                "packing and padding_free must be off for distillation: the teacher is looked "
                "up (cache) or scored (server) per sequence, and on-policy prompts are read per "
                "row, which packed rows do not keep apart"
            )
        sources = [
            name
            for name in ("teacher", "teacher_cache", "teacher_url")
            if getattr(self, name) is not None
        ]
        if len(sources) > 1:
            raise ConfigError(
                f"give one teacher source, not {' and '.join(sources)}: teacher (a checkpoint), "
                f"teacher_cache (a top-k cache folder) or teacher_url (a vLLM server)"
            )
        if self.teacher_cache is not None and self.mode != "off_policy":
            raise ConfigError(
                f"mode={self.mode!r} needs a teacher that scores the student's own samples: a "
                f"top-k cache only holds the dataset's traces. Use teacher or teacher_url, or "
                f"mode='off_policy'"
            )
        if self.teacher_url is not None and not self.teacher_name:
            raise ConfigError("teacher_url needs teacher_name (the server's model name)")
        if self.teacher_url is not None and self.temperature != 1.0:
            raise ConfigError(
                f"a served teacher returns temperature-1 log-probs; temperature must be 1.0 "
                f"with teacher_url, got {self.temperature!r}"
            )

    @property
    def distill_scale(self) -> float:
        """The factor on the divergence term: temperature**2 under `hinton_scaling`."""
        return self.temperature**2 if self.hinton_scaling else 1.0
