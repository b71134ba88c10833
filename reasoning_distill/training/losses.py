"""Distillation losses: pure functions of logits and labels, no model, no trainer state.

Alignment convention (who shifts): these losses compare two distributions *at the same
position*, so they take already-aligned tensors: `student_logits[b, t]`, `teacher_logits[b, t]`
and `labels[b, t]` must all describe the same prediction. In a causal LM the logits at position
`t` predict the token at `t + 1`, so a caller holding `labels = input_ids` (masked with -100)
passes `shift_labels(labels)`, which moves every label one step left and puts -100 in the last
column. The labels' values are never read, only whether they are -100: the KL compares whole
distributions, not the probability of the label token.

Every loss is computed in float32 (float64 stays float64) with `log_softmax`, averages over the
unmasked tokens with a `mask.sum().clamp_min(1)` denominator (a batch with no trainable token
gives a finite 0, not NaN), and sends gradients only into the student: the teacher's logits
are detached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100
Reduction = Literal["mean", "sum", "none"]


def shift_labels(labels: torch.Tensor) -> torch.Tensor:
    """Align `labels` (B, T) with causal-LM logits (B, T, V): returns (B, T) next-token labels.

    Output[b, t] = labels[b, t + 1]; the last column is -100 (no next token to predict).
    """
    import torch.nn.functional as F

    return F.pad(labels[..., 1:], (0, 1), value=IGNORE_INDEX)


def _log_probs(logits: torch.Tensor, temperature: float, mask: torch.Tensor) -> torch.Tensor:
    import torch

    # float32 softmax even when the model runs in bf16: a bf16 log-softmax over a vocabulary of
    # 150k entries loses the small probabilities that a KL is made of.
    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    scaled = logits.to(dtype) / temperature  # a new tensor: filling it in place costs no copy
    # Zero the masked positions before the softmax: garbage (NaN/inf) there would otherwise
    # reach the gradient through log_softmax's backward, even with the loss masked after.
    return scaled.masked_fill_(~mask.unsqueeze(-1), 0.0).log_softmax(dim=-1)


def _reduce(per_token: torch.Tensor, mask: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    # masked_fill, not a product: padding positions may hold garbage (inf/NaN) logits
    per_token = per_token.masked_fill(~mask, 0.0)
    if reduction == "none":
        return per_token
    if reduction == "sum":
        return per_token.sum()
    if reduction == "mean":
        return per_token.sum() / mask.sum().clamp_min(1)
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check(student_logits, teacher_logits, labels, temperature: float) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student_logits {tuple(student_logits.shape)} and teacher_logits "
            f"{tuple(teacher_logits.shape)} must have the same shape (same vocabulary, same positions)"
        )
    if labels.shape != student_logits.shape[:-1]:
        raise ValueError(
            f"labels {tuple(labels.shape)} must match the logits' leading dims "
            f"{tuple(student_logits.shape[:-1])}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def reverse_kl_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Reverse KL(student || teacher) per token, mode-seeking: the student is pushed off tokens
    the teacher finds unlikely rather than made to cover all of the teacher's mass.

    Per token: sum_v p_s(v) * (log p_s(v) - log p_t(v)), with p = softmax(logits / temperature).

    Args:
        student_logits: (B, T, V), any float dtype; gradients flow into it.
        teacher_logits: (B, T, V), same shape; detached (no gradient).
        labels: (B, T) aligned with the logits (see the module docstring: pass
            `shift_labels(labels)` for causal-LM outputs); positions with -100 are ignored.
        temperature: applied to both distributions.
        reduction: "mean" (over unmasked tokens, a scalar), "sum" (scalar), or "none" ((B, T)
            per-token values, zero at masked positions).

    Returns:
        A float32 (float64 for float64 inputs) tensor, >= 0 up to rounding.
    """
    _check(student_logits, teacher_logits, labels, temperature)
    mask = labels != IGNORE_INDEX
    log_s = _log_probs(student_logits, temperature, mask)
    log_t = _log_probs(teacher_logits.detach(), temperature, mask)
    per_token = (log_s.exp() * (log_s - log_t)).sum(dim=-1)
    return _reduce(per_token, mask, reduction)


def forward_kl_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 1.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Forward KL(teacher || student) per token, mass-covering (classic logit distillation).

    Per token: sum_v p_t(v) * (log p_t(v) - log p_s(v)). Shapes, masking, temperature and
    reduction exactly as in `reverse_kl_loss`.
    """
    _check(student_logits, teacher_logits, labels, temperature)
    mask = labels != IGNORE_INDEX
    log_s = _log_probs(student_logits, temperature, mask)
    log_t = _log_probs(teacher_logits.detach(), temperature, mask)
    per_token = (log_t.exp() * (log_t - log_s)).sum(dim=-1)
    return _reduce(per_token, mask, reduction)
