"""The white-box stage: minimise reverse KL(student || teacher) on the dataset's assistant tokens.

Offline and teacher-forced: both models read the same dataset sequences (no on-policy
generation by the student, unlike TRL's GKD / DistillationTrainer with `lmbda > 0`), and at
every assistant token the student's next-token distribution is pulled toward the teacher's
with the mode-seeking reverse KL. `alpha` mixes in the ordinary SFT cross-entropy on the
dataset tokens. The stage starts from a given (usually SFT-trained) student checkpoint.

Teacher and student must share the tokenizer: a KL between two distributions over different
vocabularies is meaningless, and equal sizes alone do not make equal vocabularies (FIELD.md
item 4), so the vocabularies themselves are compared and a mismatch is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from reasoning_distill.training.checkpoint import TrainResult, prepare_run_dir
from reasoning_distill.training.config import ReverseKLConfig
from reasoning_distill.training.losses import IGNORE_INDEX, reverse_kl_loss, shift_labels
from reasoning_distill.training.sft import (
    build_trainer,
    load_causal_lm,
    load_tokenizer,
    load_train_dataset,
    quiet_progress,
    run_trainer,
)
from reasoning_distill.training.student_trainer import StudentSFTTrainer

logger = logging.getLogger(__name__)


def check_same_vocabulary(student_tokenizer, teacher_tokenizer, student=None, teacher=None) -> None:
    """Raise ValueError unless both tokenizers map the same strings to the same ids (and, when
    the models are given, both output the same number of logits)."""
    sv, tv = student_tokenizer.get_vocab(), teacher_tokenizer.get_vocab()
    if sv != tv:
        differ = sorted(k for k in sv.keys() | tv.keys() if sv.get(k) != tv.get(k))
        raise ValueError(
            f"teacher and student vocabularies differ ({len(tv)} vs {len(sv)} tokens, "
            f"{len(differ)} strings mapped differently, e.g. {differ[:5]}): reverse KL needs "
            f"one shared tokenizer. Build the student with the teacher's tokenizer."
        )
    if student is not None and teacher is not None:
        s_out = student.get_output_embeddings().weight.shape[0]
        t_out = teacher.get_output_embeddings().weight.shape[0]
        if s_out != t_out:
            raise ValueError(
                f"teacher and student output {t_out} and {s_out} logits although they share a "
                f"tokenizer: resize one model's embeddings to match"
            )


class ReverseKLTrainer(StudentSFTTrainer):
    """SFTTrainer whose training loss is reverse KL to a frozen teacher on the same batch."""

    def __init__(self, *args, teacher_model, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = teacher_model.to(self.accelerator.device).eval().requires_grad_(False)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not model.training:  # evaluation reports TRL's usual SFT loss
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        logits, target = self.student_logits(model, inputs)
        with torch.no_grad():
            teacher_inputs = {k: v for k, v in inputs.items() if k != "labels"}
            teacher_logits = self.teacher(**teacher_inputs, use_cache=False).logits
        mask = target != IGNORE_INDEX
        denom = self.token_denominator(mask, num_items_in_batch)
        rkl = (
            reverse_kl_loss(
                logits, teacher_logits, target, temperature=self.args.temperature, reduction="sum"
            )
            / denom
        )
        ce = (
            F.cross_entropy(
                logits.float().flatten(0, 1),
                target.flatten(),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
            / denom
        )
        alpha = self.args.alpha
        loss = (1 - alpha) * rkl + alpha * ce if alpha > 0 else rkl
        self.record_metrics(
            inputs, logits, target, reverse_kl=rkl.detach().item(), ce=ce.detach().item()
        )
        return (loss, {"logits": logits}) if return_outputs else loss


def train_reverse_kl(
    student_path: str | Path,
    teacher_path: str | Path,
    train_dataset: Any,
    output_dir: str | Path,
    config: ReverseKLConfig | None = None,
    callbacks: list | None = None,
) -> TrainResult:
    """Train the student at `student_path` toward the teacher for exactly `config.max_steps`.

    Offline, teacher-forced reverse KL on the assistant tokens of `train_dataset` (a Dataset,
    a save_to_disk folder or a JSONL file with a `messages` column); no generation. The
    result lands in `output_dir/final`; its `losses` are the logged training losses (reverse
    KL when `alpha` is 0) and `metrics["reverse_kl"]` the reverse KL alone.
    """
    config = config or ReverseKLConfig()
    if not isinstance(config, ReverseKLConfig):
        raise TypeError(f"train_reverse_kl needs a ReverseKLConfig, got {type(config).__name__}")
    run_dir = prepare_run_dir(output_dir)
    with quiet_progress(bool(config.disable_tqdm)):
        tokenizer = load_tokenizer(None, student_path)
        check_same_vocabulary(tokenizer, load_tokenizer(None, teacher_path))
        student = load_causal_lm(student_path)
        teacher = load_causal_lm(teacher_path)
        check_same_vocabulary(tokenizer, tokenizer, student, teacher)
        dataset = load_train_dataset(train_dataset)
        trainer = build_trainer(
            ReverseKLTrainer,
            student,
            tokenizer,
            dataset,
            run_dir,
            config,
            teacher_model=teacher,
            callbacks=callbacks,
        )
        return run_trainer(trainer, tokenizer, run_dir, config)


def mean_reverse_kl(
    student, teacher, tokenizer, rows: list[dict], temperature: float = 1.0
) -> float:
    """Reverse KL(student || teacher) per assistant token over `rows` (`messages` dicts).

    For reports and tests: how far a student is from its teacher on given data, teacher-forced.
    """
    total, count = 0.0, 0
    for row in rows:
        enc = tokenizer.apply_chat_template(
            row["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids = torch.tensor([enc["input_ids"]])
        labels = ids.masked_fill(torch.tensor([enc["assistant_masks"]]) == 0, IGNORE_INDEX)
        target = shift_labels(labels)
        with torch.no_grad():
            s = student(input_ids=ids).logits
            t = teacher(input_ids=ids).logits
            total += float(reverse_kl_loss(s, t, target, temperature, reduction="sum"))
        count += int((target != IGNORE_INDEX).sum())
    return total / max(count, 1)
