"""The chunked (hidden states x head) losses equal the full-logits losses, values and grads."""

from __future__ import annotations

import pytest
import torch

from reasoning_distill.training.chunked_loss import (
    chunked_distillation_loss,
    chunked_topk_distillation_loss,
    default_chunk_size,
)
from reasoning_distill.training.losses import (
    DIVERGENCES,
    distillation_loss,
    topk_distillation_loss,
)


def _case(seed: int, b=2, t=9, hs=6, ht=5, v=23, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    h_s = torch.randn(b, t, hs, generator=g, dtype=dtype)
    w_s = torch.randn(v, hs, generator=g, dtype=dtype)
    h_t = torch.randn(b, t, ht, generator=g, dtype=dtype) * 2
    w_t = torch.randn(v, ht, generator=g, dtype=dtype)
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[0, :3] = -100
    labels[1, -2:] = -100
    return h_s, w_s, h_t, w_t, labels


def _full(h_s, w_s, h_t, w_t, labels, **kw):
    h_s = h_s.clone().requires_grad_(True)
    w_s = w_s.clone().requires_grad_(True)
    loss = distillation_loss(h_s @ w_s.T, h_t @ w_t.T, labels, **kw)
    loss.backward()
    return loss.detach(), h_s.grad, w_s.grad


def _chunked(h_s, w_s, h_t, w_t, labels, chunk_size, **kw):
    h_s = h_s.clone().requires_grad_(True)
    w_s = w_s.clone().requires_grad_(True)
    loss = chunked_distillation_loss(h_s, w_s, h_t, w_t, labels, chunk_size=chunk_size, **kw)
    loss.backward()
    return loss.detach(), h_s.grad, w_s.grad


@pytest.mark.parametrize("divergence", DIVERGENCES)
@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_equals_full_logits_values_and_gradients(divergence, chunk_size):
    for seed in range(2):
        case = _case(seed)
        kw = {"divergence": divergence, "temperature": 1.7, "beta": 0.3, "skew": 0.2}
        want = _full(*case, **kw)
        got = _chunked(*case, chunk_size, **kw)
        assert got[0].item() == pytest.approx(want[0].item(), rel=1e-6, abs=1e-7)
        torch.testing.assert_close(got[1], want[1], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got[2], want[2], rtol=1e-5, atol=1e-6)


def test_float64_gradcheck():
    h_s, w_s, h_t, w_t, labels = _case(3, b=2, t=4, hs=3, ht=2, v=5, dtype=torch.float64)
    h_s.requires_grad_(True)
    w_s.requires_grad_(True)

    def f(a, b):
        return chunked_distillation_loss(a, b, h_t, w_t, labels, "jsd", 1.3, chunk_size=2)

    assert torch.autograd.gradcheck(f, (h_s, w_s))


def test_sum_reduction_masked_rows_and_garbage():
    h_s, w_s, h_t, w_t, labels = _case(4)
    h_s[0, 0] = float("nan")  # masked position
    h_t[1, -1] = float("inf")
    labels_none = torch.full_like(labels, -100)
    h = h_s.clone().requires_grad_(True)
    w = w_s.clone().requires_grad_(True)
    loss = chunked_distillation_loss(h, w, h_t, w_t, labels, reduction="sum", chunk_size=3)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(h.grad).all() and torch.isfinite(w.grad).all()
    assert (h.grad[labels == -100] == 0).all()
    mean = chunked_distillation_loss(h_s, w_s, h_t, w_t, labels)
    assert mean.item() == pytest.approx(loss.item() / int((labels != -100).sum()), rel=1e-6)
    nothing = chunked_distillation_loss(h_s, w_s.requires_grad_(True), h_t, w_t, labels_none)
    nothing.backward()
    assert nothing.item() == 0.0 and torch.isfinite(w_s.grad).all()


def test_bf16_inputs_match_their_float32_upcast():
    h_s, w_s, h_t, w_t, labels = _case(5)
    b = [x.bfloat16() for x in (h_s, w_s, h_t, w_t)]
    got = chunked_distillation_loss(*b, labels, chunk_size=4)
    want = distillation_loss(b[0].float() @ b[1].float().T, b[2].float() @ b[3].float().T, labels)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    h = b[0].clone().requires_grad_(True)
    chunked_distillation_loss(h, b[1], *b[2:], labels).backward()
    assert h.grad.dtype == torch.bfloat16


def test_head_without_grad_and_teacher_untouched():
    h_s, w_s, h_t, w_t, labels = _case(6)
    h = h_s.clone().requires_grad_(True)
    wt = w_t.clone().requires_grad_(True)
    chunked_distillation_loss(h, w_s, h_t, wt, labels).backward()
    assert h.grad is not None and wt.grad is None


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_topk_chunked_equals_topk_full(divergence):
    h_s, w_s, h_t, w_t, labels = _case(7)
    log_t = torch.log_softmax((h_t @ w_t.T) / 1.5, -1)
    vals, ids = log_t.topk(6, dim=-1)
    tail = log_t.scatter(-1, ids, float("-inf")).logsumexp(-1)
    a, wa = h_s.clone().requires_grad_(True), w_s.clone().requires_grad_(True)
    b, wb = h_s.clone().requires_grad_(True), w_s.clone().requires_grad_(True)
    kw = {"divergence": divergence, "temperature": 1.5}
    want = topk_distillation_loss(a @ wa.T, ids, vals, tail, labels, **kw)
    got = chunked_topk_distillation_loss(b, wb, ids, vals, tail, labels, chunk_size=5, **kw)
    want.backward()
    got.backward()
    assert got.item() == pytest.approx(want.item(), rel=1e-6, abs=1e-7)
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(wb.grad, wa.grad, rtol=1e-5, atol=1e-6)


def test_default_chunk_size_bounds_the_chunk():
    assert default_chunk_size(151_936) * 151_936 <= 1 << 24
    assert default_chunk_size(10**9) == 1


def test_rejects_mismatched_shapes():
    h_s, w_s, h_t, w_t, labels = _case(0)
    with pytest.raises(ValueError, match="teacher_head_weight"):
        chunked_distillation_loss(h_s, w_s, h_t, w_t[:-1], labels)
    with pytest.raises(ValueError, match="student_head_weight"):
        chunked_distillation_loss(h_s, w_s[:, :-1], h_t, w_t, labels)
    with pytest.raises(ValueError, match="reduction"):
        chunked_distillation_loss(h_s, w_s, h_t, w_t, labels, reduction="none")


def test_chunked_cross_entropy_equals_full():
    from reasoning_distill.training.chunked_loss import chunked_cross_entropy

    h_s, w_s, _, _, labels = _case(8)
    a, wa = h_s.clone().requires_grad_(True), w_s.clone().requires_grad_(True)
    b, wb = h_s.clone().requires_grad_(True), w_s.clone().requires_grad_(True)
    want = torch.nn.functional.cross_entropy(
        (a @ wa.T).flatten(0, 1), labels.flatten(), ignore_index=-100
    )
    got = chunked_cross_entropy(b, wb, labels, chunk_size=3)
    want.backward()
    got.backward()
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(wb.grad, wa.grad, rtol=1e-5, atol=1e-6)
