"""The distillation losses against a float64 reference, TRL's GKD loss, and gradcheck."""

from __future__ import annotations

import math

import pytest
import torch

from reasoning_distill.training.losses import (
    DIVERGENCES,
    distillation_loss,
    forward_kl_loss,
    reverse_kl_loss,
    shift_labels,
    topk_distillation_loss,
)


def _random_case(seed: int, b: int = 3, t: int = 7, v: int = 11, scale: float = 3.0):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(b, t, v, generator=g) * scale
    teacher = torch.randn(b, t, v, generator=g) * scale
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[0, :3] = -100  # a masked prompt
    labels[1, -2:] = -100  # masked padding
    # garbage at masked positions must not leak into the loss
    student[1, -1] = float("nan")
    return student, teacher, labels


def _reference(student, teacher, labels, temperature, direction):
    """Loop-by-loop float64 reference, straight from the definition (`_ref_loss`)."""
    return _ref_loss(student, teacher, labels, f"{direction}_kl", temperature, 0.5, 0.1)


@pytest.mark.parametrize("temperature", [1.0, 0.7, 2.0])
@pytest.mark.parametrize(
    ("fn", "direction"), [(reverse_kl_loss, "reverse"), (forward_kl_loss, "forward")]
)
def test_matches_float64_reference(fn, direction, temperature):
    for seed in range(3):
        s, t, labels = _random_case(seed)
        got = fn(s, t, labels, temperature=temperature)
        want = _reference(s, t, labels, temperature, direction)
        assert got.dtype == torch.float32
        assert got.item() == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_reverse_and_forward_differ():
    s, t, labels = _random_case(0)
    assert abs(reverse_kl_loss(s, t, labels).item() - forward_kl_loss(s, t, labels).item()) > 1e-3


def test_zero_when_logits_equal_and_nonnegative():
    s, _, labels = _random_case(1)
    s = torch.nan_to_num(s)
    assert reverse_kl_loss(s, s.clone(), labels).item() == pytest.approx(0.0, abs=1e-6)
    # a constant shift of the logits leaves the distribution unchanged
    assert reverse_kl_loss(s, s + 5.0, labels).item() == pytest.approx(0.0, abs=1e-5)
    for seed in range(20):
        s, t, labels = _random_case(seed, scale=10.0)
        per_token = reverse_kl_loss(s, t, labels, reduction="none")
        assert (per_token >= -1e-6).all()
        assert (forward_kl_loss(s, t, labels, reduction="none") >= -1e-6).all()


def test_reductions_and_mask():
    s, t, labels = _random_case(2)
    per_token = reverse_kl_loss(s, t, labels, reduction="none")
    mask = labels != -100
    assert per_token.shape == labels.shape
    assert (per_token[~mask] == 0).all()
    assert torch.isfinite(per_token).all()
    total = reverse_kl_loss(s, t, labels, reduction="sum")
    assert total.item() == pytest.approx(per_token.sum().item(), rel=1e-6)
    mean = reverse_kl_loss(s, t, labels)
    assert mean.item() == pytest.approx(total.item() / mask.sum().item(), rel=1e-6)


def test_all_masked_gives_finite_zero_with_grad():
    s, t, labels = _random_case(3)
    s = torch.nan_to_num(s).requires_grad_(True)
    loss = reverse_kl_loss(s, t, torch.full_like(labels, -100))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(s.grad).all()


def test_gradients_only_into_student():
    s, t, labels = _random_case(4)
    s = torch.nan_to_num(s).requires_grad_(True)
    t = t.requires_grad_(True)
    reverse_kl_loss(s, t, labels).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None
    # masked positions get no gradient
    assert (s.grad[labels == -100] == 0).all()


def test_bf16_inputs_computed_in_float32():
    s, t, labels = _random_case(5)
    s = torch.nan_to_num(s)
    got = reverse_kl_loss(s.bfloat16(), t.bfloat16(), labels)
    assert got.dtype == torch.float32
    want = reverse_kl_loss(s.bfloat16().float(), t.bfloat16().float(), labels)
    assert got.item() == pytest.approx(want.item(), rel=1e-6)


@pytest.mark.parametrize("fn", [reverse_kl_loss, forward_kl_loss])
def test_gradcheck(fn):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    labels = torch.tensor([[1, -100, 2], [0, 4, -100]])
    assert torch.autograd.gradcheck(lambda x: fn(x, t, labels, temperature=1.5), (s,))


@pytest.mark.parametrize(("fn", "beta"), [(reverse_kl_loss, 1.0), (forward_kl_loss, 0.0)])
def test_agrees_with_trl_generalized_jsd(fn, beta):
    """TRL's GKD: beta=1 is KL(student||teacher) (reverse), beta=0 is KL(teacher||student).

    With labels, its "batchmean" divides by the number of unmasked tokens, i.e. our "mean";
    "sum" is comparable directly. Both take already-aligned logits and labels.
    """
    from trl.experimental.gkd import GKDTrainer

    for seed in range(3):
        s, t, labels = _random_case(seed)
        s = torch.nan_to_num(s)
        for temperature in (1.0, 2.0):
            kwargs = {"labels": labels, "beta": beta, "temperature": temperature}
            trl_mean = GKDTrainer.generalized_jsd_loss(s, t, reduction="batchmean", **kwargs)
            trl_sum = GKDTrainer.generalized_jsd_loss(s, t, reduction="sum", **kwargs)
            ours = fn(s, t, labels, temperature=temperature)
            assert ours.item() == pytest.approx(trl_mean.item(), rel=1e-5)
            assert fn(s, t, labels, temperature=temperature, reduction="sum").item() == (
                pytest.approx(trl_sum.item(), rel=1e-5)
            )


def test_shift_labels_aligns_next_token():
    labels = torch.tensor([[-100, -100, 5, 6, 7], [-100, 8, 9, -100, -100]])
    assert shift_labels(labels).tolist() == [[-100, 5, 6, 7, -100], [8, 9, -100, -100, -100]]
    # logits at position t predict labels[t + 1]: with one-hot "perfect" student logits for
    # the next token, the per-token KL vs a teacher that also predicts it is ~0 at every
    # unmasked aligned position.
    v = 10
    target = shift_labels(labels)
    logits = torch.full((2, 5, v), -30.0)
    for i in range(2):
        for j in range(5):
            if target[i, j] != -100:
                logits[i, j, target[i, j]] = 30.0
    assert reverse_kl_loss(logits, logits.clone(), target).item() == pytest.approx(0.0, abs=1e-6)
    assert int((target != -100).sum()) == int((labels[:, 1:] != -100).sum())


def test_rejects_bad_shapes_and_temperature():
    s, t, labels = _random_case(0)
    with pytest.raises(ValueError, match="same shape"):
        reverse_kl_loss(s, t[..., :-1], labels)
    with pytest.raises(ValueError, match="labels"):
        reverse_kl_loss(s, t, labels[:, :-1])
    with pytest.raises(ValueError, match="temperature"):
        reverse_kl_loss(s, t, labels, temperature=0.0)
    with pytest.raises(ValueError, match="reduction"):
        reverse_kl_loss(s, t, labels, reduction="batchmean")


@pytest.mark.parametrize("fn", [reverse_kl_loss, forward_kl_loss])
def test_garbage_at_masked_positions_stays_out_of_the_gradient(fn):
    student, teacher, labels = _random_case(4)
    student[0, 0] = float("inf")  # masked prompt position; [1, -1] already holds NaN
    teacher[1, -1] = float("nan")
    student.requires_grad_(True)
    fn(student, teacher, labels).backward()
    assert torch.isfinite(student.grad).all()
    masked = labels == -100
    assert (student.grad[masked] == 0).all() and (student.grad[~masked] != 0).any()


# ---- distillation_loss: every divergence of the table ----


def _ref_divergence(ps, pt, divergence, beta, skew):
    """One position, float64, straight from the definitions (no log_softmax, no logaddexp)."""

    def kl(p, q):
        return sum(
            float(a) * (math.log(float(a)) - math.log(float(b))) for a, b in zip(p, q, strict=True)
        )

    if divergence == "forward_kl":
        return kl(pt, ps)
    if divergence == "reverse_kl":
        return kl(ps, pt)
    if divergence == "jsd":
        if beta == 0.0:
            return kl(pt, ps)
        if beta == 1.0:
            return kl(ps, pt)
        m = beta * pt + (1 - beta) * ps
        return beta * kl(pt, m) + (1 - beta) * kl(ps, m)
    if divergence == "skew_forward_kl":
        return kl(pt, skew * pt + (1 - skew) * ps)
    if divergence == "skew_reverse_kl":
        return kl(ps, skew * ps + (1 - skew) * pt)
    raise AssertionError(divergence)


def _ref_loss(student, teacher, labels, divergence, temperature, beta, skew):
    total, count = 0.0, 0
    b, t, _ = student.shape
    for i in range(b):
        for j in range(t):
            if labels[i, j] == -100:
                continue
            ps = torch.softmax(student[i, j].double() / temperature, -1)
            pt = torch.softmax(teacher[i, j].double() / temperature, -1)
            total += _ref_divergence(ps, pt, divergence, beta, skew)
            count += 1
    return total / max(count, 1)


@pytest.mark.parametrize("divergence", DIVERGENCES)
@pytest.mark.parametrize(("temperature", "beta", "skew"), [(1.0, 0.5, 0.1), (2.0, 0.2, 0.3)])
def test_distillation_loss_matches_float64_reference(divergence, temperature, beta, skew):
    for seed in range(3):
        s, t, labels = _random_case(seed)
        got = distillation_loss(s, t, labels, divergence, temperature, beta, skew)
        want = _ref_loss(s, t, labels, divergence, temperature, beta, skew)
        assert got.dtype == torch.float32
        assert got.item() == pytest.approx(want, rel=1e-5, abs=1e-7), (divergence, seed)


def test_reverse_kl_divergence_equals_reverse_kl_loss():
    s, t, labels = _random_case(7)
    for temperature in (1.0, 0.5):
        a = distillation_loss(s, t, labels, "reverse_kl", temperature, reduction="none")
        b = reverse_kl_loss(s, t, labels, temperature, reduction="none")
        assert torch.equal(a, b)


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_jsd_equals_trl_generalized_jsd(beta):
    """beta is the teacher's weight in the mixture; 0 = forward KL, 1 = reverse KL (TRL's)."""
    from trl.experimental.gkd import GKDTrainer

    for seed in range(3):
        s, t, labels = _random_case(seed)
        s = torch.nan_to_num(s)
        for temperature in (1.0, 2.0):
            want = GKDTrainer.generalized_jsd_loss(
                s, t, labels=labels, beta=beta, temperature=temperature, reduction="batchmean"
            )
            got = distillation_loss(s, t, labels, "jsd", temperature, beta=beta)
            assert got.item() == pytest.approx(want.item(), rel=1e-5, abs=1e-7)


def test_skew_zero_is_the_plain_kl_and_skew_shrinks_it():
    s, t, labels = _random_case(8)
    for skewed, plain in (("skew_forward_kl", "forward_kl"), ("skew_reverse_kl", "reverse_kl")):
        base = distillation_loss(s, t, labels, plain)
        assert distillation_loss(s, t, labels, skewed, skew=0.0).item() == pytest.approx(
            base.item(), rel=1e-6
        )
        assert distillation_loss(s, t, labels, skewed, skew=0.5) < base


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_distillation_gradcheck(divergence):
    g = torch.Generator().manual_seed(1)
    s = torch.randn(2, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    labels = torch.tensor([[1, -100, 2], [0, 4, -100]])
    assert torch.autograd.gradcheck(
        lambda x: distillation_loss(x, t, labels, divergence, 1.5, beta=0.3, skew=0.2), (s,)
    )


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_distillation_masked_rows_and_garbage(divergence):
    s, t, labels = _random_case(4)
    s[0, 0] = float("inf")
    t[1, -1] = float("nan")
    # a fully masked row gives 0, no NaN
    labels[2] = -100
    s.requires_grad_(True)
    per_token = distillation_loss(s, t, labels, divergence, reduction="none")
    assert (per_token[2] == 0).all() and torch.isfinite(per_token).all()
    distillation_loss(s, t, labels, divergence).backward()
    assert torch.isfinite(s.grad).all()
    masked = labels == -100
    assert (s.grad[masked] == 0).all() and (s.grad[~masked] != 0).any()
    nothing = distillation_loss(s.detach(), t, torch.full_like(labels, -100), divergence)
    assert nothing.item() == 0.0


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_distillation_bf16_inputs(divergence):
    s, t, labels = _random_case(5)
    s = torch.nan_to_num(s)
    got = distillation_loss(s.bfloat16(), t.bfloat16(), labels, divergence)
    assert got.dtype == torch.float32
    want = distillation_loss(s.bfloat16().float(), t.bfloat16().float(), labels, divergence)
    assert got.item() == pytest.approx(want.item(), rel=1e-6)


def test_distillation_rejects_bad_parameters():
    s, t, labels = _random_case(0)
    with pytest.raises(ValueError, match="divergence"):
        distillation_loss(s, t, labels, "kl")
    with pytest.raises(ValueError, match="beta"):
        distillation_loss(s, t, labels, "jsd", beta=1.5)
    with pytest.raises(ValueError, match="skew"):
        distillation_loss(s, t, labels, "skew_reverse_kl", skew=1.0)


# ---- top-k teacher with a tail bucket ----


def _topk(teacher, k, temperature=1.0):
    log_t = torch.log_softmax(teacher.double() / temperature, -1)
    vals, ids = log_t.topk(k, dim=-1)
    rest = log_t.scatter(-1, ids, float("-inf")).logsumexp(-1)
    return ids, vals.float(), rest.float()


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_topk_with_full_vocabulary_equals_full_loss(divergence):
    s, t, labels = _random_case(3)
    s = torch.nan_to_num(s)
    ids, vals, tail = _topk(t, s.shape[-1])
    assert torch.isinf(tail).all()  # nothing left outside the top-V
    for temperature in (1.0, 2.0):
        ids, vals, tail = _topk(t, s.shape[-1], temperature)
        a = s.clone().requires_grad_(True)
        b = s.clone().requires_grad_(True)
        full = distillation_loss(a, t, labels, divergence, temperature)
        top = topk_distillation_loss(b, ids, vals, tail, labels, divergence, temperature)
        assert top.item() == pytest.approx(full.item(), rel=1e-5, abs=1e-7)
        full.backward()
        top.backward()
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6)


def test_topk_tail_bucket_against_float64_reference():
    """k < V: the divergence of the (k + 1)-bucket distributions, computed by hand."""
    s, t, labels = _random_case(6)
    s = torch.nan_to_num(s)
    k = 4
    ids, vals, tail = _topk(t, k)
    got = topk_distillation_loss(s, ids, vals, tail, labels, "reverse_kl")
    total, count = 0.0, 0
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            if labels[i, j] == -100:
                continue
            ps = torch.softmax(s[i, j].double(), -1)
            pt = torch.softmax(t[i, j].double(), -1)
            sel = ids[i, j]
            bs = torch.cat([ps[sel], (1 - ps[sel].sum()).reshape(1)])
            bt = torch.cat([pt[sel], (1 - pt[sel].sum()).reshape(1)])
            total += _ref_divergence(bs, bt, "reverse_kl", 0.5, 0.1)
            count += 1
    assert got.item() == pytest.approx(total / count, rel=1e-5)
    # the bucketed divergence never exceeds the full one (data-processing inequality)
    assert got.item() <= distillation_loss(s, t, labels, "reverse_kl").item() + 1e-6


def test_topk_masked_positions_may_hold_garbage():
    s, t, labels = _random_case(2)
    ids, vals, tail = _topk(torch.nan_to_num(t), 3)
    ids[labels == -100] = 10**9  # out of range where masked
    vals[labels == -100] = float("nan")
    s.requires_grad_(True)
    loss = topk_distillation_loss(s, ids, vals, tail, labels, "jsd")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
    assert (s.grad[labels == -100] == 0).all()
