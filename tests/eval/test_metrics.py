"""Metrics: pass@k against brute force, hand-checked scores, interval coverage by simulation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from reasoning_distill.eval.metrics import difference, pass_at_k, recovery, score


def _brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n samples (c correct) that contain a correct one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_matches_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(_brute_pass_at_k(n, c, k), abs=1e-15)


def test_pass_at_k_large_n_is_stable() -> None:
    # A naive product of binomials overflows floats here; the exact route does not.
    assert pass_at_k(2000, 1, 1) == pytest.approx(1 / 2000, rel=1e-15)
    assert pass_at_k(2000, 0, 1000) == 0.0
    assert pass_at_k(2000, 1000, 1001) == 1.0
    v = pass_at_k(2000, 3, 10)
    expected = 1 - math.prod((1 - 10 / i) for i in range(1998, 2001))
    assert v == pytest.approx(expected, rel=1e-12)


def test_pass_at_k_rejects_k_above_n() -> None:
    with pytest.raises(ValueError, match="k=5 needs at least k samples"):
        pass_at_k(4, 2, 5)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(0, 0, 1)
    with pytest.raises(TypeError):
        pass_at_k(4.0, 2, 1)


def test_score_hand_checked() -> None:
    results = {"a": [True, True, False, False], "b": [True, True, True, True], "c": [False] * 4}
    s = score(results)
    assert s.pass_at_k == pytest.approx(0.5)  # (0.5 + 1 + 0) / 3
    assert (s.n_problems, s.n_samples, s.k) == (3, 4, 1)
    assert s.std_err == pytest.approx(0.5 / math.sqrt(3))  # sd of (0.5, 1, 0) is 0.5
    assert s.method == "wilson_eff"  # 3 problems: far too few for the CLT
    assert 0.0 <= s.ci95[0] < 0.5 < s.ci95[1] <= 1.0

    s2 = score(results, k=2)
    # problem a: 1 - C(2,2)/C(4,2) = 5/6; b: 1; c: 0
    assert s2.pass_at_k == pytest.approx((5 / 6 + 1 + 0) / 3)


def test_score_large_benchmark_uses_clt_and_matches_formula() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((400, 4)) < 0.6
    s = score({f"p{i}": list(row) for i, row in enumerate(x)})
    means = x.mean(axis=1)
    se = means.std(ddof=1) / math.sqrt(400)
    assert s.method == "clt"
    assert s.pass_at_k == pytest.approx(means.mean())
    assert s.std_err == pytest.approx(se)
    # t_{399, 0.975} = 1.96587
    assert s.ci95[0] == pytest.approx(means.mean() - 1.96587 * se, abs=1e-5)
    assert s.ci95[1] == pytest.approx(means.mean() + 1.96587 * se, abs=1e-5)


def test_score_all_zero_and_all_one_have_nondegenerate_intervals() -> None:
    zero = score({f"p{i}": [False] * 8 for i in range(30)})
    assert zero.pass_at_k == 0.0 and zero.ci95[0] == 0.0 and 0.05 < zero.ci95[1] < 0.2
    one = score({f"p{i}": [True] * 8 for i in range(30)})
    assert one.pass_at_k == 1.0 and one.ci95[1] == 1.0 and 0.8 < one.ci95[0] < 0.95


def test_score_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="'p2' has 3 samples but 'p1' has 4"):
        score({"p1": [True] * 4, "p2": [True] * 3})
    with pytest.raises(ValueError, match="no problems"):
        score({})
    with pytest.raises(ValueError, match="'p1' has no samples"):
        score({"p1": []})
    with pytest.raises(TypeError, match="problem 'p1', sample 1"):
        score({"p1": [True, None]})
    with pytest.raises(TypeError, match="problem 'p1', sample 0"):
        score({"p1": [0.5]})
    with pytest.raises(ValueError, match="k=5"):
        score({"p1": [True] * 4}, k=5)


def _coverage(m: int, n: int, a: float, b: float, reps: int, seed: int) -> float:
    """Share of synthetic benchmarks whose interval covers the true mean pass rate.

    Each replicate draws m new problems with pass probabilities from Beta(a, b) and n samples
    each; the target is the population mean a / (a + b).
    """
    rng = np.random.default_rng(seed)
    hit = 0
    for _ in range(reps):
        p = rng.beta(a, b, size=m)
        x = rng.random((m, n)) < p[:, None]
        lo, hi = score({f"p{i}": list(row) for i, row in enumerate(x)}).ci95
        hit += lo <= a / (a + b) <= hi
    return hit / reps


# Measured with 2,000 replicates each: 0.946, 0.951, 0.971, 0.975, 0.925 (the hard case
# undercovers: a few solvable problems carry the whole mean; see score's docstring).
@pytest.mark.parametrize(
    ("m", "n", "a", "b", "low", "high"),
    [
        (200, 4, 2.0, 2.0, 0.925, 0.975),  # CLT regime
        (30, 8, 0.5, 1.5, 0.925, 0.975),  # AIME-sized, U-shaped difficulties
        (15, 4, 0.5, 8.0, 0.93, 0.995),  # few problems, p near 0: Wilson regime
        (20, 4, 8.0, 0.5, 0.93, 0.995),  # few problems, p near 1
        (30, 16, 0.2, 4.0, 0.89, 0.975),  # hard case: a handful of solvable problems
    ],
)
def test_score_interval_coverage(m: int, n: int, a: float, b: float, low: float, high: float):
    cov = _coverage(m, n, a, b, reps=600, seed=m * 1000 + n)
    assert low <= cov <= high, f"coverage {cov:.3f} outside [{low}, {high}]"


def test_recovery_hand_checked_and_paired() -> None:
    teacher = {"a": [True, True], "b": [True, False], "c": [False, False], "d": [True, True]}
    student = {"a": [True, False], "b": [True, False], "c": [False, False], "d": [True, True]}
    r = recovery(student, teacher, n_boot=2000)
    assert r.ratio == pytest.approx((0.5 + 0.5 + 0 + 1) / (1 + 0.5 + 0 + 1))
    assert r.ci95 is not None and r.ci95[0] <= r.ratio <= r.ci95[1] <= 1.0 + 1e-12
    # The student never beats the teacher on any problem, so no paired resample can give
    # a ratio above 1; an unpaired bootstrap would (it mixes problems across models).
    self_r = recovery(teacher, teacher)
    assert self_r.ratio == 1.0 and self_r.ci95 == (1.0, 1.0)
    # Seeded: the same call gives the same interval; another seed may not.
    assert recovery(student, teacher, n_boot=2000).ci95 == r.ci95


def test_recovery_errors_and_zero_teacher() -> None:
    t = {"a": [True], "b": [False]}
    with pytest.raises(
        ValueError, match=r"missing from teacher: \['c'\].*missing from student: \['b'\]"
    ):
        recovery({"a": [True], "c": [True]}, t)
    z = recovery({"a": [True], "b": [False]}, {"a": [False], "b": [False]})
    assert z.ratio is None and z.ci95 is None and "teacher pass@1 is 0" in z.reason


def test_recovery_coverage() -> None:
    rng = np.random.default_rng(7)
    m, n, frac, hit, reps = 100, 4, 0.8, 0, 150
    for r in range(reps):
        pt = rng.beta(4, 2, size=m)
        xt = rng.random((m, n)) < pt[:, None]
        xs = rng.random((m, n)) < (frac * pt)[:, None]
        rc = recovery(
            {f"p{i}": list(v) for i, v in enumerate(xs)},
            {f"p{i}": list(v) for i, v in enumerate(xt)},
            n_boot=1000,
            seed=r,
        )
        hit += rc.ci95[0] <= frac <= rc.ci95[1]
    assert 0.90 <= hit / reps <= 0.99


def test_difference_hand_checked() -> None:
    a = {"p1": [True, True], "p2": [True, False], "p3": [True, True]}
    b = {"p1": [False, False], "p2": [False, False], "p3": [True, False]}
    d = difference(a, b)
    diffs = np.array([1.0, 0.5, 0.5])
    assert d.diff == pytest.approx(diffs.mean())
    assert d.std_err == pytest.approx(diffs.std(ddof=1) / math.sqrt(3))
    assert d.n_problems == 3
    # t_{2, 0.975} = 4.303, so with 3 problems the interval is wide:
    # 0.667 - 4.303 * 0.1667 = -0.05 < 0, hence not separated.
    assert not d.separated and d.ci95[0] < 0 < d.ci95[1]
    same = difference(a, a)
    assert same.diff == 0 and not same.separated


def test_difference_separates_clear_gap_and_pairs_problems() -> None:
    rng = np.random.default_rng(3)
    m = 200
    p = rng.beta(2, 2, size=m)
    xa = rng.random((m, 4)) < np.minimum(p + 0.1, 1)[:, None]
    xb = rng.random((m, 4)) < p[:, None]
    a = {f"p{i}": list(v) for i, v in enumerate(xa)}
    b = {f"p{i}": list(v) for i, v in enumerate(xb)}
    d = difference(a, b)
    assert d.separated and d.ci95[0] > 0
    # Pairing: an interval on the difference must be narrower than the two unpaired ones
    # combined, because the problem difficulty is shared.
    sa, sb = score(a), score(b)
    assert d.std_err < math.hypot(sa.std_err, sb.std_err)
    # Order of the mapping does not matter: problems are aligned by id.
    b_rev = dict(reversed(list(b.items())))
    assert difference(a, b_rev).diff == pytest.approx(d.diff)
