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

`distillation_loss` selects one divergence by name (the table below); the pure functions
never multiply by temperature squared (Hinton's gradient-scale correction): the trainer does
when configured to. `topk_distillation_loss` compares the student with a teacher known only
through its top-k log-probabilities plus one tail bucket holding the remaining mass.

| divergence | per token | character |
|---|---|---|
| `forward_kl` | KL(p_t ‖ p_s) | mass-covering, classic logit distillation |
| `reverse_kl` | KL(p_s ‖ p_t) | mode-seeking |
| `jsd` | beta KL(p_t ‖ m) + (1 - beta) KL(p_s ‖ m), m = beta p_t + (1 - beta) p_s | TRL's generalised JSD: beta = 0 is forward KL, beta = 1 reverse KL |
| `skew_forward_kl` | KL(p_t ‖ skew p_t + (1 - skew) p_s) | DistiLLM's skewed KL |
| `skew_reverse_kl` | KL(p_s ‖ skew p_s + (1 - skew) p_t) | DistiLLM's skewed reverse KL |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100
Reduction = Literal["mean", "sum", "none"]
Divergence = Literal["forward_kl", "reverse_kl", "jsd", "skew_forward_kl", "skew_reverse_kl"]
DIVERGENCES: tuple[str, ...] = (
    "forward_kl",
    "reverse_kl",
    "jsd",
    "skew_forward_kl",
    "skew_reverse_kl",
)


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
    _check_labels(student_logits, labels, temperature)


def _check_labels(student_logits, labels, temperature: float) -> None:
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


def check_divergence(divergence: str, beta: float, skew: float) -> None:
    """Raise ValueError unless the divergence name and its parameters are valid."""
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {', '.join(DIVERGENCES)}; got {divergence!r}")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1]; got {beta!r}")
    if not 0.0 <= skew < 1.0:
        raise ValueError(f"skew must be in [0, 1); got {skew!r}")


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def _log_mix(log_a: torch.Tensor, log_b: torch.Tensor, weight_a: float) -> torch.Tensor:
    """log(weight_a * a + (1 - weight_a) * b), computed stably from log a and log b."""
    import math

    import torch

    return torch.logaddexp(log_a + math.log(weight_a), log_b + math.log1p(-weight_a))


def divergence_from_log_probs(
    log_s: torch.Tensor,
    log_t: torch.Tensor,
    divergence: str = "reverse_kl",
    beta: float = 0.5,
    skew: float = 0.1,
) -> torch.Tensor:
    """Per-row divergence (..., ) between two normalised log-distributions (..., V).

    The building block of every loss here (full logits, chunks of hidden states, top-k
    buckets); see the module's table for the definitions. `log_t` must already be detached.
    """
    if divergence == "forward_kl" or (divergence == "jsd" and beta == 0.0):
        return _kl(log_t, log_s)
    if divergence == "reverse_kl" or (divergence == "jsd" and beta == 1.0):
        return _kl(log_s, log_t)
    if divergence == "jsd":
        log_m = _log_mix(log_t, log_s, beta)
        return beta * _kl(log_t, log_m) + (1.0 - beta) * _kl(log_s, log_m)
    if divergence == "skew_forward_kl":
        return _kl(log_t, _log_mix(log_t, log_s, skew)) if skew > 0 else _kl(log_t, log_s)
    if divergence == "skew_reverse_kl":
        return _kl(log_s, _log_mix(log_s, log_t, skew)) if skew > 0 else _kl(log_s, log_t)
    raise ValueError(f"divergence must be one of {', '.join(DIVERGENCES)}; got {divergence!r}")


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    divergence: str = "reverse_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
    skew: float = 0.1,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """The chosen divergence between student and teacher next-token distributions per token.

    Args:
        student_logits: (B, T, V), any float dtype; gradients flow into it.
        teacher_logits: (B, T, V); detached (no gradient).
        labels: (B, T) aligned with the logits (pass `shift_labels(labels)` for causal-LM
            outputs); positions with -100 are ignored, whatever their logits hold.
        divergence: one of `DIVERGENCES` (see the module's table).
        temperature: applied to both distributions; the result is NOT multiplied by T^2.
        beta: the JSD's interpolation weight of the teacher, in [0, 1] (0: forward KL, 1:
            reverse KL, exactly as TRL's `generalized_jsd_loss`).
        skew: the skewed KLs' mixing weight, in [0, 1) (0: the plain KL).
        reduction: "mean" over unmasked tokens, "sum", or "none" ((B, T), 0 where masked).

    Returns:
        A float32 (float64 for float64 inputs) tensor.
    """
    _check(student_logits, teacher_logits, labels, temperature)
    check_divergence(divergence, beta, skew)
    mask = labels != IGNORE_INDEX
    log_s = _log_probs(student_logits, temperature, mask)
    log_t = _log_probs(teacher_logits.detach(), temperature, mask)
    per_token = divergence_from_log_probs(log_s, log_t, divergence, beta, skew)
    return _reduce(per_token, mask, reduction)


# A tail bucket that holds no mass (k = vocabulary size) has log-mass -inf; 0 * (-inf - -inf)
# is NaN, so empty buckets are clamped to a log-mass whose exp is exactly 0 in float32.
_EMPTY_LOG_MASS = -1.0e4


def bucket_log_probs(log_probs: torch.Tensor, topk_ids: torch.Tensor) -> torch.Tensor:
    """Collapse full log-probs (..., V) onto the teacher's buckets (..., k + 1).

    Columns 0..k-1 are the log-probs of `topk_ids` (..., k, distinct ids per row); column k
    is the log of the remaining mass (all other tokens).
    """
    import torch

    picked = log_probs.gather(-1, topk_ids)
    rest = log_probs.scatter(-1, topk_ids, float("-inf")).logsumexp(dim=-1, keepdim=True)
    return torch.cat([picked, rest.clamp_min(_EMPTY_LOG_MASS)], dim=-1)


def topk_teacher_buckets(topk_logprobs: torch.Tensor, tail_logprob: torch.Tensor) -> torch.Tensor:
    """The teacher's bucket distribution (..., k + 1) from stored top-k log-probs and tail.

    Renormalised with a log-softmax: stored values may be quantised, so their masses need not
    add up to exactly one.
    """
    import torch

    dtype = torch.float64 if topk_logprobs.dtype == torch.float64 else torch.float32
    top = topk_logprobs.to(dtype).clamp_min(_EMPTY_LOG_MASS)
    tail = tail_logprob.to(dtype).unsqueeze(-1).clamp_min(_EMPTY_LOG_MASS)
    return torch.cat([top, tail], dim=-1).log_softmax(dim=-1)


def topk_distillation_loss(
    student_logits: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_logprobs: torch.Tensor,
    tail_logprob: torch.Tensor,
    labels: torch.Tensor,
    divergence: str = "reverse_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
    skew: float = 0.1,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """The divergence against a teacher known by its top-k log-probs plus one tail bucket.

    Both distributions are collapsed onto k + 1 buckets (the teacher's k tokens, and
    everything else), and the divergence is taken between the two bucket distributions. This
    is exact when k is the vocabulary size; for smaller k it ignores how the tail mass is
    spread over its tokens (a lower bound on the full KL for every divergence here, by the
    data-processing inequality). The teacher's log-probs must have been computed at
    `temperature` already (the tail cannot be re-tempered), so temperature is applied to the
    student alone.

    Args:
        student_logits: (B, T, V); gradients flow into it.
        topk_ids: (B, T, k) int64 token ids; topk_logprobs: (B, T, k); tail_logprob: (B, T)
            the log of the teacher's mass outside the k ids (-inf when none).
        labels: (B, T) aligned as in `distillation_loss`; -100 ignored.
    """
    if topk_ids.shape[:-1] != student_logits.shape[:-1] or topk_ids.shape != topk_logprobs.shape:
        raise ValueError(
            f"topk_ids {tuple(topk_ids.shape)} and topk_logprobs {tuple(topk_logprobs.shape)} "
            f"must be (B, T, k) with (B, T) = {tuple(student_logits.shape[:-1])}"
        )
    _check_labels(student_logits, labels, temperature)
    import torch

    check_divergence(divergence, beta, skew)
    mask = labels != IGNORE_INDEX
    log_s = _log_probs(student_logits, temperature, mask)
    # masked positions may hold anything (padding): the ids there must still be distinct
    # and in range, and the teacher's values finite, so both are replaced.
    k = topk_ids.shape[-1]
    filler = torch.arange(k, device=topk_ids.device).expand_as(topk_ids)
    ids = torch.where(mask.unsqueeze(-1), topk_ids, filler)
    t_buckets = topk_teacher_buckets(
        topk_logprobs.detach().masked_fill(~mask.unsqueeze(-1), 0.0),
        tail_logprob.detach().masked_fill(~mask, 0.0),
    )
    s_buckets = bucket_log_probs(log_s, ids)
    per_token = divergence_from_log_probs(s_buckets, t_buckets, divergence, beta, skew)
    return _reduce(per_token, mask, reduction)
