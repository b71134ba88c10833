"""Distillation losses from hidden states and LM-head weights, never holding (B, T, V) logits.

At a vocabulary of 151,936 one sequence of 16k tokens has 2.5 billion logits per model (10 GB
in float32), and autograd would keep several such tensors for the backward pass. Here the
valid (unmasked) positions are projected through the heads a chunk of rows at a time, and each
chunk's gradient with respect to the student's hidden states and head weight is computed
right away, inside the forward, so what survives until backward is only the gradients
themselves: (N, H) for the hidden states and (V, H) for the head. Peak memory is one chunk's
logits and their intermediates plus those two gradient buffers, whatever the sequence length
(the same design as Liger-Kernel's fused linear losses; TRL 1.16's chunked loss instead tiles
4,096 rows at a time and recomputes in backward).

The values equal `distillation_loss(student_hidden @ student_head_weight.T, teacher_hidden @
teacher_head_weight.T, labels, ...)` (and `topk_distillation_loss` for a cached teacher) up
to float32 rounding. Heads are applied in float32: a bf16 head weight is upcast once per call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from reasoning_distill.training.losses import (
    IGNORE_INDEX,
    bucket_log_probs,
    check_divergence,
    divergence_from_log_probs,
    topk_teacher_buckets,
)

if TYPE_CHECKING:
    import torch

# Rows per chunk are chosen so that one chunk's logits hold about this many float32 values
# (64 MiB): about 110 rows at a vocabulary of 151,936, the whole batch for a toy vocabulary.
CHUNK_ELEMENTS = 1 << 24


def default_chunk_size(vocab_size: int) -> int:
    """Rows per chunk for a vocabulary: one chunk's logits are about 64 MiB of float32."""
    return max(1, CHUNK_ELEMENTS // max(1, vocab_size))


def _fused_head_loss():
    import torch

    class FusedHeadLoss(torch.autograd.Function):
        """sum over rows of the per-token loss of the logits hidden @ weight.T.

        `chunk_grad(start, end, logits)` returns the per-token loss of rows start:end and its
        gradient w.r.t. those logits. The gradients w.r.t. `hidden` (N, H) and `weight` (V, H)
        are accumulated in the forward, chunk by chunk, and only scaled in the backward.
        """

        @staticmethod
        def forward(ctx, hidden, weight, chunk_grad, chunk_size):
            dtype = torch.float64 if hidden.dtype == torch.float64 else torch.float32
            w32 = weight.detach().to(dtype)
            need_w = weight.requires_grad
            grad_h = torch.zeros(hidden.shape, dtype=dtype, device=hidden.device)
            grad_w = torch.zeros_like(w32) if need_w else None
            total = torch.zeros((), dtype=dtype, device=hidden.device)
            for start in range(0, hidden.shape[0], chunk_size):
                end = min(start + chunk_size, hidden.shape[0])
                h = hidden[start:end].detach().to(dtype)
                per_token, gz = chunk_grad(start, end, h @ w32.T)
                grad_h[start:end] = gz @ w32
                if need_w:
                    grad_w.addmm_(gz.T, h)
                total += per_token.sum()
                del per_token, gz
            ctx.save_for_backward(grad_h, grad_w if need_w else torch.empty(0))
            ctx.need_w = need_w
            ctx.dtypes = (hidden.dtype, weight.dtype)
            return total

        @staticmethod
        def backward(ctx, grad_out):
            grad_h, grad_w = ctx.saved_tensors
            gh = (grad_h * grad_out).to(ctx.dtypes[0])
            gw = (grad_w * grad_out).to(ctx.dtypes[1]) if ctx.need_w else None
            return gh, gw, None, None

    return FusedHeadLoss


_FUSED: Callable | None = None


def _apply(hidden, weight, chunk_grad, chunk_size: int):
    global _FUSED
    if _FUSED is None:
        _FUSED = _fused_head_loss()
    return _FUSED.apply(hidden, weight, chunk_grad, chunk_size)


def _autograd_chunk(per_token_of_log_s, temperature: float):
    """A chunk_grad from a per-token loss of the student's log-probs, through autograd."""
    import torch

    def chunk_grad(start: int, end: int, z):
        with torch.enable_grad():
            z = z.requires_grad_(True)
            per_token = per_token_of_log_s(start, end, (z / temperature).log_softmax(dim=-1))
            (gz,) = torch.autograd.grad(per_token.sum(), z)
        return per_token.detach(), gz

    return chunk_grad


def _analytic_kl_grad(log_s, log_t, divergence: str, temperature: float):
    """Per-token forward or reverse KL and its gradient w.r.t. the logits, in closed form.

    With a = z / T and p_s = softmax(a): d KL(p_t||p_s) / da = p_s - p_t, and
    d KL(p_s||p_t) / da = p_s * (log p_s - log p_t - KL(p_s||p_t)). Half the passes over
    (rows, V) that autograd makes, which is most of the time at a large vocabulary.
    """
    p_s = log_s.exp()
    if divergence == "forward_kl":
        p_t = log_t.exp()
        per_token = (p_t * (log_t - log_s)).sum(dim=-1)
        return per_token, p_t.neg_().add_(p_s).div_(temperature)
    diff = log_s.sub_(log_t)  # log_s is not needed any more
    per_token = (p_s * diff).sum(dim=-1)
    return per_token, diff.sub_(per_token.unsqueeze(-1)).mul_(p_s).div_(temperature)


def _valid_rows(labels: torch.Tensor) -> torch.Tensor:
    return (labels.reshape(-1) != IGNORE_INDEX).nonzero().squeeze(-1)


def _check_common(student_hidden, student_head_weight, labels, temperature, reduction) -> None:
    if student_hidden.dim() != 3 or labels.shape != student_hidden.shape[:-1]:
        raise ValueError(
            f"student_hidden must be (B, T, H) and labels (B, T); got "
            f"{tuple(student_hidden.shape)} and {tuple(labels.shape)}"
        )
    if student_head_weight.dim() != 2 or student_head_weight.shape[1] != student_hidden.shape[-1]:
        raise ValueError(
            f"student_head_weight must be (V, H) with H = {student_hidden.shape[-1]}; got "
            f"{tuple(student_head_weight.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def _reduce(total: torch.Tensor, n_valid: int, reduction: str) -> torch.Tensor:
    return total / max(n_valid, 1) if reduction == "mean" else total


def chunked_distillation_loss(
    student_hidden: torch.Tensor,
    student_head_weight: torch.Tensor,
    teacher_hidden: torch.Tensor,
    teacher_head_weight: torch.Tensor,
    labels: torch.Tensor,
    divergence: str = "reverse_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
    skew: float = 0.1,
    chunk_size: int | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """`distillation_loss` of the two models' logits, computed from hidden states in chunks.

    Args:
        student_hidden: (B, T, H_s), the student's last hidden states (after the final norm);
            gradients flow into it.
        student_head_weight: (V, H_s), the student's LM head; gradients flow into it when it
            requires grad (tied embeddings included).
        teacher_hidden: (B, T, H_t) and teacher_head_weight: (V, H_t): detached.
        labels: (B, T) aligned with the hidden states (`shift_labels` of the input labels);
            -100 positions are never projected, so garbage there cannot reach the gradient.
        divergence, temperature, beta, skew: as in `distillation_loss` (no T^2 factor).
        chunk_size: rows projected at once (default: `default_chunk_size(V)`).
        reduction: "mean" over unmasked tokens or "sum".
    """
    import torch

    _check_common(student_hidden, student_head_weight, labels, temperature, reduction)
    check_divergence(divergence, beta, skew)
    if teacher_hidden.shape[:-1] != student_hidden.shape[:-1]:
        raise ValueError(
            f"teacher_hidden {tuple(teacher_hidden.shape)} must cover the same (B, T) as "
            f"student_hidden {tuple(student_hidden.shape)}"
        )
    if teacher_head_weight.shape != (student_head_weight.shape[0], teacher_hidden.shape[-1]):
        raise ValueError(
            f"teacher_head_weight must be (V, H_t) = ({student_head_weight.shape[0]}, "
            f"{teacher_hidden.shape[-1]}) (same vocabulary as the student); got "
            f"{tuple(teacher_head_weight.shape)}"
        )
    rows = _valid_rows(labels)
    h_s = student_hidden.reshape(-1, student_hidden.shape[-1]).index_select(0, rows)
    h_t = teacher_hidden.detach().reshape(-1, teacher_hidden.shape[-1]).index_select(0, rows)
    dtype = torch.float64 if student_hidden.dtype == torch.float64 else torch.float32
    wt32 = teacher_head_weight.detach().to(dtype)

    def teacher_log_probs(start: int, end: int):
        return (h_t[start:end].to(dtype) @ wt32.T).div_(temperature).log_softmax(dim=-1)

    def per_token(start: int, end: int, log_s):
        log_t = teacher_log_probs(start, end)
        return divergence_from_log_probs(log_s, log_t, divergence, beta, skew)

    kl = {"forward_kl": "forward_kl", "reverse_kl": "reverse_kl"}.get(divergence)
    if divergence == "jsd" and beta in (0.0, 1.0):
        kl = "forward_kl" if beta == 0.0 else "reverse_kl"
    if kl is not None:

        def chunk_grad(start: int, end: int, z):
            log_s = z.div_(temperature).log_softmax(dim=-1)
            return _analytic_kl_grad(log_s, teacher_log_probs(start, end), kl, temperature)

    else:
        chunk_grad = _autograd_chunk(per_token, temperature)
    size = chunk_size or default_chunk_size(student_head_weight.shape[0])
    total = _apply(h_s, student_head_weight, chunk_grad, size)
    return _reduce(total, int(rows.numel()), reduction)


def chunked_topk_distillation_loss(
    student_hidden: torch.Tensor,
    student_head_weight: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_logprobs: torch.Tensor,
    tail_logprob: torch.Tensor,
    labels: torch.Tensor,
    divergence: str = "reverse_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
    skew: float = 0.1,
    chunk_size: int | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """`topk_distillation_loss` (teacher as top-k log-probs plus a tail bucket) from hidden
    states in chunks: the student's logits are never held whole.

    `topk_ids` / `topk_logprobs`: (B, T, k); `tail_logprob`: (B, T); other arguments as in
    `chunked_distillation_loss`. The teacher's values must be at `temperature` already.
    """
    _check_common(student_hidden, student_head_weight, labels, temperature, reduction)
    check_divergence(divergence, beta, skew)
    if topk_ids.shape[:-1] != labels.shape or topk_logprobs.shape != topk_ids.shape:
        raise ValueError(
            f"topk_ids {tuple(topk_ids.shape)} and topk_logprobs {tuple(topk_logprobs.shape)} "
            f"must be (B, T, k) with (B, T) = {tuple(labels.shape)}"
        )
    rows = _valid_rows(labels)
    k = topk_ids.shape[-1]
    ids = topk_ids.reshape(-1, k).index_select(0, rows)
    t_buckets = topk_teacher_buckets(
        topk_logprobs.detach().reshape(-1, k).index_select(0, rows),
        tail_logprob.detach().reshape(-1).index_select(0, rows),
    )
    h_s = student_hidden.reshape(-1, student_hidden.shape[-1]).index_select(0, rows)

    def per_token(start: int, end: int, log_s):
        s_buckets = bucket_log_probs(log_s, ids[start:end])
        return divergence_from_log_probs(s_buckets, t_buckets[start:end], divergence, beta, skew)

    size = chunk_size or default_chunk_size(student_head_weight.shape[0])
    total = _apply(h_s, student_head_weight, _autograd_chunk(per_token, temperature), size)
    return _reduce(total, int(rows.numel()), reduction)


def chunked_cross_entropy(
    hidden: torch.Tensor,
    head_weight: torch.Tensor,
    labels: torch.Tensor,
    chunk_size: int | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Next-token cross-entropy of `labels` (B, T, aligned, -100 ignored) from hidden states
    (B, T, H) and a head (V, H), in chunks like `chunked_distillation_loss`."""
    import torch

    _check_common(hidden, head_weight, labels, 1.0, reduction)
    rows = _valid_rows(labels)
    h = hidden.reshape(-1, hidden.shape[-1]).index_select(0, rows)
    target = labels.reshape(-1).index_select(0, rows)

    def chunk_grad(start: int, end: int, z):
        log_s = z.log_softmax(dim=-1)
        y = target[start:end].unsqueeze(-1)
        per_token = -log_s.gather(-1, y).squeeze(-1)
        grad = log_s.exp_()
        grad.scatter_add_(-1, y, torch.full_like(y, -1, dtype=grad.dtype))
        return per_token, grad

    size = chunk_size or default_chunk_size(head_weight.shape[0])
    total = _apply(h, head_weight, chunk_grad, size)
    return _reduce(total, int(rows.numel()), reduction)
