"""`StudentSFTTrainer`: TRL's `SFTTrainer` with a plain-logits loss for small vocabularies.

TRL 1.16 always computes the SFT loss through its chunked fused LM head, which never builds
the (B, T, V) logits: a large saving at V = 150k, but with a vocabulary of a few hundred tokens
on a CPU its tiling costs more than the logits themselves (see
benchmarks/bench_train_overhead.py). With `fused_lm_head=False` (the default below 32k tokens)
this trainer computes the same next-token cross-entropy from full logits, normalised like
TRL's: per trained token over the whole accumulated batch of every rank (`num_items_in_batch`),
times the number of ranks because DDP averages gradients over them. Dataset preparation,
assistant masks, packing, collation, logging and saving stay TRL's. With Liger kernels the
loss is always TRL's (Liger fuses the head itself).

It also logs `tokens_per_second` (all ranks, real tokens, between two logging steps).
The class is the base of the reverse-KL stage, which needs the full logits anyway.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from trl import SFTTrainer

from reasoning_distill.training.losses import IGNORE_INDEX, shift_labels

FUSED_HEAD_MIN_VOCAB = 32768


class StudentSFTTrainer(SFTTrainer):
    """SFTTrainer whose training loss can come from full logits (see the module docstring)."""

    _last_log: tuple[float, int] | None = None

    def use_fused_head(self) -> bool:
        if getattr(self.args, "use_liger_kernel", False):
            return True
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
        """What a summed token loss is divided by, under `Trainer.training_step`'s contract.

        With `num_items_in_batch` (trained tokens over all accumulated micro-batches and, with
        `average_tokens_across_devices`, over all ranks) the loss is not divided again by the
        accumulation steps; as DDP then averages gradients over ranks, the denominator is
        divided by their number, so every trained token of the global batch weighs the same.
        Without it, a per-micro-batch mean.
        """
        if num_items_in_batch is not None and self.model_accepts_loss_kwargs:
            denom = torch.as_tensor(num_items_in_batch, device=mask.device, dtype=torch.float32)
            if self.args.average_tokens_across_devices:
                denom = denom / (self.accelerator.num_processes // self.get_tp_size())
            return denom.clamp_min(1e-8)
        return mask.sum().clamp_min(1)

    def record_metrics(self, inputs, logits: torch.Tensor, target: torch.Tensor, **extra) -> None:
        """Token accuracy, token count and any `extra` scalars, averaged by SFTTrainer.log."""
        mask = target != IGNORE_INDEX
        local = torch.stack(
            [
                mask.sum(),
                ((logits.detach().argmax(-1) == target) & mask).sum(),
                _real_tokens(inputs),
            ]
        )
        n, correct, tokens = (
            int(x) for x in self.accelerator.gather_for_metrics(local[None]).sum(0)
        )
        metrics = self._metrics["train"]
        metrics["mean_token_accuracy"].append(correct / n if n else 0.0)
        for key, value in extra.items():
            metrics[key].append(float(value))
        self._total_train_tokens += tokens // self._tp_size
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

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self.model is not None and self.model.training and "loss" in logs:
            now, tokens = time.perf_counter(), self._total_train_tokens
            if self._last_log is not None and now > self._last_log[0]:
                logs["tokens_per_second"] = (tokens - self._last_log[1]) / (now - self._last_log[0])
            self._last_log = (now, tokens)
        super().log(logs, start_time)


def _real_tokens(inputs) -> torch.Tensor:
    """Non-pad tokens of a batch (padding-free batches have no attention mask: all are real)."""
    if "attention_mask" in inputs:
        return inputs["attention_mask"].sum()
    return torch.tensor(inputs["input_ids"].numel(), device=inputs["input_ids"].device)
