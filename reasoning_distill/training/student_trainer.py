"""`StudentSFTTrainer`: TRL's `SFTTrainer` with a plain-logits loss for small vocabularies.

TRL 1.16 always computes the SFT loss through its chunked fused LM head, which never builds
the (B, T, V) logits: a large saving at V = 150k, but with a vocabulary of a few hundred tokens
on a CPU its tiling costs more than the logits themselves (see
benchmarks/bench_train_overhead.py). With `fused_lm_head=False` (the default below 32k tokens)
this trainer computes the same token-mean next-token cross-entropy from full logits. Dataset
preparation, assistant masks, collation, logging and saving stay TRL's.

The class is also the base of the reverse-KL stage, which needs the full logits anyway.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import SFTTrainer

from reasoning_distill.training.losses import IGNORE_INDEX, shift_labels

FUSED_HEAD_MIN_VOCAB = 32768


class StudentSFTTrainer(SFTTrainer):
    """SFTTrainer whose training loss can come from full logits (see the module docstring)."""

    def use_fused_head(self) -> bool:
        choice = getattr(self.args, "fused_lm_head", None)
        if choice is None:
            return self.model.config.get_text_config().vocab_size >= FUSED_HEAD_MIN_VOCAB
        return bool(choice)

    def student_logits(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's full logits (B, T, V) and next-token-aligned labels (B, T)."""
        model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        model_inputs["use_cache"] = False
        return model(**model_inputs).logits, shift_labels(inputs["labels"])

    def token_denominator(self, mask: torch.Tensor, num_items_in_batch) -> torch.Tensor:
        """Tokens to average over, under the same contract as `Trainer.training_step`.

        A loss normalised by `num_items_in_batch` (tokens over all accumulated micro-batches)
        is not divided again by the accumulation steps; a per-micro-batch mean is.
        """
        if num_items_in_batch is not None and self.model_accepts_loss_kwargs:
            return torch.as_tensor(num_items_in_batch, device=mask.device).clamp_min(1)
        return mask.sum().clamp_min(1)

    def record_metrics(self, inputs, logits: torch.Tensor, target: torch.Tensor, **extra) -> None:
        """Token accuracy, token count and any `extra` scalars, averaged by SFTTrainer.log."""
        mask = target != IGNORE_INDEX
        n = int(mask.sum())
        correct = int(((logits.detach().argmax(-1) == target) & mask).sum())
        metrics = self._metrics["train"]
        metrics["mean_token_accuracy"].append(correct / n if n else 0.0)
        for key, value in extra.items():
            metrics[key].append(float(value))
        self._total_train_tokens += int(inputs["attention_mask"].sum())
        metrics["num_tokens"] = [self._total_train_tokens]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.use_fused_head() or not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        logits, target = self.student_logits(model, inputs)
        mask = target != IGNORE_INDEX
        ce = F.cross_entropy(
            logits.float().flatten(0, 1),
            target.flatten(),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        loss = ce / self.token_denominator(mask, num_items_in_batch)
        self.record_metrics(inputs, logits, target)
        return (loss, {"logits": logits}) if return_outputs else loss
