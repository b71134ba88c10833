"""Estimates over training seeds: a recipe's pass@1, the paired difference of two recipes,
and a student's recovery of its teacher, with intervals that include seed variance.

A training recipe is judged by what it gives over seeds, not by one run. Each seed s gives
per-problem pass rates x[s, i] on the same m problems (seeds and problems are crossed), modelled
as x[s, i] = mu + a_s + b_i + e_si: a seed effect, a problem effect and the rest. The pooled
estimate is the grand mean; its variance is var_a / S + var_b / m + var_e / (S m), estimated
from the two-way ANOVA mean squares (method of moments, a negative component set to 0), and
the interval is Student's t with Satterthwaite's degrees of freedom (S - 1 where the seed part
is more than half of the variance):
`CI_METHOD` = "two-way t (seeds x problems, Satterthwaite df)". With 3 seeds the seed part
has 2 degrees of freedom, so an interval dominated by seed variance is wide: that is the
uncertainty about the recipe, which an interval over problems alone understates.

A difference between two recipes is paired within each seed (same seed, same problems), then
pooled the same way. Recovery, student pass@1 / teacher pass@1, uses the linearisation
z[s, i] = x[s, i] - R t_i (delta method), so the teacher's per-problem noise is included.

With one seed, seed variance is not measured: the single-run intervals of `metrics` are
returned with a note saying so, and no comparison is marked settled. Coverage is checked by
simulation in tests/eval/test_seeds.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from reasoning_distill.eval.metrics import (
    PerProblem,
    _check_confidence,
    difference,
    pass_rates,
    recovery,
    score,
)
from reasoning_distill.eval.student_t import t_quantile

CI_METHOD = "two-way t (seeds x problems, Satterthwaite df)"
ONE_SEED = "one seed: seed variance not measured"


@dataclass(frozen=True)
class SeedEstimate:
    """A pooled estimate over seeds, the per-seed values beside it, and its interval.

    `value` and `ci95` are None only for an undefined recovery (teacher pass@1 of 0); `note`
    says why, or that seed variance was not measured (one seed). `settled` (for differences)
    is True only with two or more seeds and an interval that excludes 0.
    """

    value: float | None
    ci95: tuple[float, float] | None
    per_seed: tuple[float | None, ...]
    seeds: tuple[Any, ...]
    ci_method: str
    std_err: float | None
    df: float | None
    n_problems: int
    note: str = ""

    @property
    def settled(self) -> bool:
        if len(self.seeds) < 2 or self.ci95 is None:
            return False
        return self.ci95[0] > 0 or self.ci95[1] < 0

    def ci95_json(self) -> list[float | None] | None:
        """The interval as JSON holds it: an unbounded end (a recovery over a teacher that
        solves almost nothing, one seed) is null, since JSON has no infinity."""
        if self.ci95 is None:
            return None
        return [None if math.isinf(v) else float(v) for v in self.ci95]

    def to_dict(self, value_key: str) -> dict[str, Any]:
        """The report's entry: seeds, per_seed, `value_key` (pass@1, diff, recovery), ci95,
        ci_method, and std_err, df, n_problems and the note."""
        out = {
            "seeds": list(self.seeds),
            "per_seed": list(self.per_seed),
            value_key: self.value,
            "ci95": self.ci95_json(),
            "ci_method": self.ci_method,
            "std_err": self.std_err,
            "df": self.df,
            "n_problems": self.n_problems,
        }
        if self.note:
            out["note"] = self.note
        return out


def _matrix(per_seed: Sequence[PerProblem], what: str) -> tuple[list[str], np.ndarray]:
    """(problem ids, S x m per-problem pass rates), every seed on the same problems."""
    if not per_seed:
        raise ValueError(f"{what}: no seeds")
    ids, first = pass_rates(per_seed[0], f"{what}, seed 0")
    rows = [first]
    for s, per in enumerate(per_seed[1:], start=1):
        ids_s, rates = pass_rates(per, f"{what}, seed {s}")
        if set(ids_s) != set(ids):
            missing = sorted(set(ids) - set(ids_s))[:5]
            extra = sorted(set(ids_s) - set(ids))[:5]
            raise ValueError(
                f"{what}: seed {s} covers other problems than seed 0 "
                f"(missing {missing}, extra {extra}); every seed needs the same problems"
            )
        pos = {pid: j for j, pid in enumerate(ids_s)}
        rows.append(rates[[pos[pid] for pid in ids]])
    return ids, np.vstack(rows)


def _two_way(x: np.ndarray) -> tuple[float, float]:
    """(variance of the grand mean, Satterthwaite df) for an S x m crossed table, S, m >= 2."""
    s, m = x.shape
    grand = x.mean()
    seed_means, prob_means = x.mean(axis=1), x.mean(axis=0)
    ms_seed = m * float(seed_means.var(ddof=1))
    ms_prob = s * float(prob_means.var(ddof=1))
    resid = x - seed_means[:, None] - prob_means[None, :] + grand
    df_e = (s - 1) * (m - 1)
    ms_e = float((resid**2).sum()) / df_e
    # var(grand) = (ms_seed + ms_prob - ms_e) / (S m) when both components are positive; a
    # component estimated at or below 0 is set to 0, which drops its mean square and one ms_e.
    c_seed, c_prob = float(ms_seed > ms_e), float(ms_prob > ms_e)
    c_e = 1.0 - c_seed - c_prob
    terms = [(c_seed, ms_seed, s - 1), (c_prob, ms_prob, m - 1), (c_e, ms_e, df_e)]
    scale = 1.0 / (s * m)
    var = scale * sum(c * ms for c, ms, _ in terms)
    denom = sum((scale * c * ms) ** 2 / df for c, ms, df in terms if c != 0)
    df = var**2 / denom if denom > 0 else float(df_e)
    if c_seed and scale * (ms_seed - ms_e) > var / 2:
        # Satterthwaite's df grows exactly when the seed part is underestimated, so with few
        # seeds it covers 0.91-0.93; where seed variance is most of the total, its S - 1
        # degrees of freedom govern (coverage 0.94-0.96 in tests/eval/test_seeds.py).
        df = float(s - 1)
    return max(var, 0.0), df


def _t_interval(
    centre: float, var: float, df: float, confidence: float, lo: float, hi: float
) -> tuple[tuple[float, float], float]:
    se = math.sqrt(var)
    half = t_quantile(0.5 + confidence / 2, df) * se
    return (max(lo, centre - half), min(hi, centre + half)), se


def _seed_names(seeds: Sequence[Any] | None, n: int) -> tuple[Any, ...]:
    if seeds is None:
        return tuple(range(n))
    if len(seeds) != n:
        raise ValueError(f"{len(seeds)} seed names for {n} seeds' results")
    return tuple(seeds)


def _pooled_samples(per_seed: Sequence[PerProblem], ids: list[str]) -> dict[str, list[bool]]:
    return {pid: [bool(v) for per in per_seed for v in per[pid]] for pid in ids}


def seed_score(
    per_seed: Sequence[PerProblem], seeds: Sequence[Any] | None = None, confidence: float = 0.95
) -> SeedEstimate:
    """A recipe's pass@1 pooled over seeds (each seed's {problem_id: [bool per sample]})."""
    _check_confidence(confidence)
    ids, x = _matrix(per_seed, "seed_score")
    names = _seed_names(seeds, len(x))
    per = tuple(float(v) for v in x.mean(axis=1))
    if len(x) == 1:
        sc = score(per_seed[0], k=1, confidence=confidence)
        return SeedEstimate(
            sc.pass_at_k, sc.ci95, per, names, sc.method, sc.std_err, None, len(ids), ONE_SEED
        )
    value = float(x.mean())
    var, df = _two_way(x)
    if var == 0.0 or value in (0.0, 1.0):
        # No spread at all (every seed and problem alike, e.g. all wrong): an interval of
        # width 0 would claim certainty; use the problems interval on the pooled samples.
        sc = score(_pooled_samples(per_seed, ids), k=1, confidence=confidence)
        note = "no spread across seeds or problems: interval over problems, seeds pooled"
        return SeedEstimate(value, sc.ci95, per, names, sc.method, 0.0, None, len(ids), note)
    ci, se = _t_interval(value, var, df, confidence, 0.0, 1.0)
    return SeedEstimate(value, ci, per, names, CI_METHOD, se, df, len(ids))


def seed_difference(
    a: Sequence[PerProblem],
    b: Sequence[PerProblem],
    seeds: Sequence[Any] | None = None,
    confidence: float = 0.95,
) -> SeedEstimate:
    """pass@1(a) - pass@1(b), paired within each seed (a[s] and b[s] share seed s), pooled."""
    _check_confidence(confidence)
    if len(a) != len(b):
        raise ValueError(f"seed_difference: {len(a)} seeds for a, {len(b)} for b")
    ids, xa = _matrix(a, "seed_difference, a")
    ids_b, xb = _matrix(b, "seed_difference, b")
    if set(ids_b) != set(ids):
        raise ValueError("seed_difference: a and b must cover the same problems")
    pos = {pid: j for j, pid in enumerate(ids_b)}
    d = xa - xb[:, [pos[pid] for pid in ids]]
    names = _seed_names(seeds, len(d))
    per = tuple(float(v) for v in d.mean(axis=1))
    if len(d) == 1:
        diff = difference(a[0], b[0], confidence=confidence)
        return SeedEstimate(
            diff.diff, diff.ci95, per, names, "paired t over problems", diff.std_err, None,
            len(ids), ONE_SEED,
        )  # fmt: skip
    value = float(d.mean())
    var, df = _two_way(d)
    ci, se = _t_interval(value, var, df, confidence, -1.0, 1.0)
    return SeedEstimate(value, ci, per, names, CI_METHOD, se, df, len(ids))


def seed_recovery(
    student: Sequence[PerProblem],
    teacher: PerProblem,
    seeds: Sequence[Any] | None = None,
    confidence: float = 0.95,
) -> SeedEstimate:
    """Student pass@1 pooled over its seeds, divided by the teacher's pass@1 (one run)."""
    _check_confidence(confidence)
    ids, x = _matrix(student, "seed_recovery, student")
    t_ids, t_rates = pass_rates(teacher, "seed_recovery, teacher")
    if set(t_ids) != set(ids):
        raise ValueError("seed_recovery: student and teacher must cover the same problems")
    pos = {pid: j for j, pid in enumerate(t_ids)}
    t = t_rates[[pos[pid] for pid in ids]]
    names = _seed_names(seeds, len(x))
    t_mean = float(t.mean())
    if t_mean == 0.0:
        return SeedEstimate(
            None, None, tuple(None for _ in names), names, CI_METHOD, None, None, len(ids),
            "teacher pass@1 is 0: recovery is undefined",
        )  # fmt: skip
    per = tuple(float(v) / t_mean for v in x.mean(axis=1))
    if len(x) == 1:
        r = recovery(student[0], teacher, confidence=confidence)
        ci = None if r.ci95 is None else (r.ci95[0], r.ci95[1])
        note = ONE_SEED + (f"; {r.reason}" if r.reason else "")
        return SeedEstimate(
            r.ratio, ci, per, names, "paired bootstrap over problems", None, None, len(ids), note
        )
    ratio = float(x.mean()) / t_mean
    z = x - ratio * t[None, :]
    var, df = _two_way(z)
    ci, se = _t_interval(ratio, var / t_mean**2, df, confidence, 0.0, math.inf)
    return SeedEstimate(ratio, ci, per, names, CI_METHOD, se, df, len(ids))
