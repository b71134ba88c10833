"""Seed-aware intervals: coverage against simulated recipes with known seed and problem
variance, pairing within seed, and what one seed can and cannot say."""

from __future__ import annotations

import numpy as np
import pytest
from reasoning_distill.eval.metrics import difference, score
from reasoning_distill.eval.seeds import (
    CI_METHOD,
    ONE_SEED,
    seed_difference,
    seed_recovery,
    seed_score,
)

N_SAMPLES = 4


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _runs(rng, logits: np.ndarray) -> list[dict[str, list[bool]]]:
    """One {problem: [bool per sample]} per seed, from an S x m table of logits."""
    c = rng.binomial(N_SAMPLES, _sigmoid(logits))
    s, m = c.shape
    return [{f"p{i}": [j < c[k, i] for j in range(N_SAMPLES)] for i in range(m)} for k in range(s)]


def _truth(rng, mu: float, sd_seed: float, sd_prob: float) -> float:
    """The recipe's expected pass@1 over seeds and problems (what the interval is about)."""
    a, b = rng.normal(0, sd_seed, 400_000), rng.normal(0, sd_prob, 400_000)
    return float(_sigmoid(mu + a + b).mean())


@pytest.mark.parametrize(
    ("seeds", "sd_seed", "problems"),
    [(3, 0.3, 200), (3, 0.6, 300), (3, 0.0, 200), (5, 0.3, 100), (3, 0.1, 40)],
)
def test_score_interval_covers_the_recipe(seeds, sd_seed, problems):
    """Problems and seeds drawn afresh each time (logit = 0.5 + seed + problem, sd 1.5 over
    problems, 4 samples each): the 95% interval covers the recipe's expected pass@1 about
    95% of the time, where an interval over problems alone (seeds pooled as samples) falls
    far short once seeds vary."""
    rng = np.random.default_rng(seeds * 1000 + problems)
    truth = _truth(rng, 0.5, sd_seed, 1.5)
    sims, covered, naive = 600, 0, 0
    for _ in range(sims):
        logits = (
            0.5 + rng.normal(0, sd_seed, seeds)[:, None] + rng.normal(0, 1.5, problems)[None, :]
        )
        runs = _runs(rng, logits)
        est = seed_score(runs)
        covered += est.ci95[0] <= truth <= est.ci95[1]
        pooled = {pid: [v for r in runs for v in r[pid]] for pid in runs[0]}
        lo, hi = score(pooled).ci95
        naive += lo <= truth <= hi
    assert 0.92 <= covered / sims <= 0.985, covered / sims
    if sd_seed >= 0.3:
        assert naive / sims < 0.9, naive / sims  # seed variance is what the old interval missed


def test_difference_is_paired_within_seed_and_covers():
    """Two recipes share each seed's luck (same seed, same problems) and differ by a fixed
    logit; each also has its own seed noise. The paired difference covers the true one."""
    rng = np.random.default_rng(7)
    seeds, problems, sims, covered = 3, 150, 2000, 0
    delta, shared, own = 0.4, 0.5, 0.15
    a_big, b_big = rng.normal(0, shared, 200_000), rng.normal(0, 1.5, 200_000)
    own_a, own_b = rng.normal(0, own, 200_000), rng.normal(0, own, 200_000)
    truth = float(
        (
            _sigmoid(0.3 + delta + a_big + b_big + own_a) - _sigmoid(0.3 + a_big + b_big + own_b)
        ).mean()
    )
    for _ in range(sims):
        a_s = rng.normal(0, shared, seeds)[:, None]
        b_i = rng.normal(0, 1.5, problems)[None, :]
        arm_a = _runs(rng, 0.3 + delta + a_s + b_i + rng.normal(0, own, seeds)[:, None])
        arm_b = _runs(rng, 0.3 + a_s + b_i + rng.normal(0, own, seeds)[:, None])
        est = seed_difference(arm_a, arm_b)
        covered += est.ci95[0] <= truth <= est.ci95[1]
    assert 0.92 <= covered / sims <= 0.985, covered / sims


def test_recovery_interval_covers():
    rng = np.random.default_rng(11)
    seeds, problems, sims, covered = 3, 200, 400, 0
    teacher_logit = 1.2
    b_big = rng.normal(0, 1.5, 400_000)
    s_big = rng.normal(0, 0.3, 400_000)
    truth = float(_sigmoid(0.4 + s_big + b_big).mean() / _sigmoid(teacher_logit + b_big).mean())
    for _ in range(sims):
        b_i = rng.normal(0, 1.5, problems)
        teacher = _runs(rng, (teacher_logit + b_i)[None, :])[0]
        student = _runs(rng, 0.4 + rng.normal(0, 0.3, seeds)[:, None] + b_i[None, :])
        est = seed_recovery(student, teacher)
        covered += est.ci95[0] <= truth <= est.ci95[1]
    assert 0.92 <= covered / sims <= 0.985, covered / sims


def test_report_fields_and_pairing():
    a = [{"p1": [True, True], "p2": [False, False]}, {"p2": [True, False], "p1": [True, False]}]
    b = [{"p1": [False, False], "p2": [False, False]}, {"p1": [True, False], "p2": [False, False]}]
    est = seed_score(a, seeds=[10, 11])
    d = est.to_dict("pass@1")
    assert d["seeds"] == [10, 11] and d["per_seed"] == [0.5, 0.5] and d["pass@1"] == 0.5
    assert d["ci_method"] == CI_METHOD and len(d["ci95"]) == 2
    diff = seed_difference(a, b)
    # paired per seed: seed 0 is +0.5, seed 1 is +0.25, problems matched by id not order
    assert diff.per_seed == (0.5, 0.25) and diff.value == pytest.approx(0.375)
    assert diff.to_dict("diff")["diff"] == pytest.approx(0.375)


def test_one_seed_measures_no_seed_variance_and_settles_nothing():
    a = {f"p{i}": [True] * 4 for i in range(60)}
    b = {f"p{i}": [False] * 4 for i in range(60)}
    est = seed_score([a | {"p0": [False] * 4}])
    assert est.note == ONE_SEED and est.ci95 == score(a | {"p0": [False] * 4}).ci95
    d = seed_difference([a], [b])
    assert d.ci95 == difference(a, b).ci95 and d.ci95[0] > 0  # far apart over problems ...
    assert not d.settled and d.note == ONE_SEED  # ... yet one seed settles no comparison
    two = seed_difference([a, a], [b, b])
    assert two.settled


def test_undefined_and_degenerate_cases():
    zero = {f"p{i}": [False, False] for i in range(30)}
    some = {f"p{i}": [i < 3, False] for i in range(30)}
    r = seed_recovery([some, some], zero)
    assert r.value is None and r.ci95 is None and "teacher pass@1 is 0" in r.note
    est = seed_score([zero, zero, zero])
    assert est.value == 0.0 and est.ci95[0] == 0.0 and est.ci95[1] > 0  # never a 0-width claim
    with pytest.raises(ValueError, match="seed 1 covers other problems"):
        seed_score([some, {"p0": [True, True]}])
    with pytest.raises(ValueError, match="2 seeds for a, 1 for b"):
        seed_difference([some, some], [some])
