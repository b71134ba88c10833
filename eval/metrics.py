"""Metrics for the teacher-gap report: pass@k, its interval, recovery and paired differences.

Pure Python + numpy (no torch), so the report can be rebuilt anywhere from saved verdicts.

Unit of analysis: the *problem*. The n samples of one problem share its difficulty, so they
are correlated; treating all n x m samples as independent Bernoulli draws (what a plain
binomial interval on the pooled samples does) makes intervals too narrow by up to sqrt(n).
Every interval here is therefore built from per-problem values, and every two-model
comparison is *paired*: the same problems, resampled together.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

import numpy as np
from reasoning_distill.eval.student_t import t_quantile

logger = logging.getLogger(__name__)

# Below this many problems, or with fewer than this many "successes" / "failures" in
# problem units, the CLT interval is unreliable and the Wilson-type interval is used instead.
CLT_MIN_PROBLEMS = 30
CLT_MIN_EVENTS = 5

PerProblem = Mapping[str, Sequence[bool]]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimate for one problem: P(at least one of k draws is correct).

    `n` samples were drawn, `c` of them correct; the estimate is 1 - C(n-c, k) / C(n, k)
    (Chen et al. 2021). Computed with exact integer binomials and a `Fraction`, so there is
    neither overflow nor cancellation, and the only rounding is the final conversion to float.
    Raises `ValueError` when k > n: pass@k is not estimable from fewer than k samples (we do
    not silently divide by n as lighteval's `PassAtK` does).
    """
    for name, v in (("n", n), ("c", c), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"pass_at_k: {name} must be an int, got {type(v).__name__}")
    if n < 1:
        raise ValueError(f"pass_at_k: need n >= 1 samples, got n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k: need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(
            f"pass_at_k: k={k} needs at least k samples per problem, but n={n}; "
            "draw more samples or lower k"
        )
    if n - c < k:
        return 1.0
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


@dataclass(frozen=True)
class Score:
    """pass@k of one model on one benchmark, with its interval.

    `pass_at_k` is the mean over problems of the per-problem unbiased estimate (for k=1, the
    mean over the n samples). `ci95` is the interval at `confidence` (named for the usual
    0.95), `method` says which interval was used ("clt" or "wilson_eff"), `std_err` is the
    standard error of the mean over problems.
    """

    pass_at_k: float
    ci95: tuple[float, float]
    n_problems: int
    n_samples: int
    std_err: float
    k: int = 1
    confidence: float = 0.95
    method: str = "clt"


@dataclass(frozen=True)
class Recovery:
    """Student pass@1 / teacher pass@1 with a paired-bootstrap interval.

    `ratio` and `ci95` are None when the ratio is undefined; `reason` then says why. The
    interval's upper end may be `math.inf` when more than (1-confidence)/2 of the bootstrap
    resamples have a teacher pass@1 of 0 (then the data cannot bound the ratio from above).
    """

    ratio: float | None
    ci95: tuple[float, float] | None
    reason: str = ""
    n_boot: int = 0


@dataclass(frozen=True)
class Difference:
    """Paired difference pass@1(a) - pass@1(b) over the same problems, with its interval.

    `separated` is True when the interval excludes 0: a beats b (or loses) beyond the noise.
    """

    diff: float
    ci95: tuple[float, float]
    separated: bool
    n_problems: int
    std_err: float


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")


def _t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t (exact, any df: `student_t.t_quantile`). Small df matters
    here: benchmarks like AIME have 30 problems, and training seeds are few."""
    return t_quantile(p, df)


def _counts(per_problem: PerProblem, what: str) -> tuple[list[str], np.ndarray, int]:
    """Validate {problem_id: [bool per sample]} and return (ids, correct counts, n)."""
    if not isinstance(per_problem, Mapping):
        raise TypeError(f"{what}: expected a mapping problem_id -> [bool per sample]")
    if not per_problem:
        raise ValueError(f"{what}: no problems")
    ids = list(per_problem)
    counts = np.empty(len(ids), dtype=np.int64)
    n_first: int | None = None
    first_id = ""
    for i, pid in enumerate(ids):
        samples = per_problem[pid]
        if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence | np.ndarray):
            raise TypeError(f"{what}: problem {pid!r}: expected a list of bools")
        if len(samples) == 0:
            raise ValueError(f"{what}: problem {pid!r} has no samples")
        arr = np.asarray(samples)
        if arr.ndim != 1 or not (
            arr.dtype == np.bool_ or (arr.dtype.kind in "iu" and bool(np.isin(arr, (0, 1)).all()))
        ):
            bad = [
                (j, v)
                for j, v in enumerate(samples)
                if not (isinstance(v, (bool, np.bool_)) or (isinstance(v, int) and v in (0, 1)))
            ] or [(0, samples[0])]
            raise TypeError(
                f"{what}: problem {pid!r}, sample {bad[0][0]}: expected bool, got {bad[0][1]!r}"
            )
        c = int(arr.sum())
        # Ragged n is rejected: with different n per problem, problems would silently weigh
        # differently in any pooled view, and a ragged file usually means a crashed or partial
        # run that should be finished (resumed), not averaged over.
        if n_first is None:
            n_first, first_id = len(samples), pid
        elif len(samples) != n_first:
            raise ValueError(
                f"{what}: problem {pid!r} has {len(samples)} samples but {first_id!r} has "
                f"{n_first}; every problem must have the same number of samples "
                "(finish or resume the run that produced them)"
            )
        counts[i] = c
    assert n_first is not None
    return ids, counts, n_first


def _per_problem_pass(counts: np.ndarray, n: int, k: int) -> np.ndarray:
    if k == 1:
        return counts / n
    return np.array([pass_at_k(n, int(c), k) for c in counts], dtype=np.float64)


def pass_rates(per_problem: PerProblem, what: str = "results") -> tuple[list[str], np.ndarray]:
    """(problem ids, per-problem pass@1) of {problem_id: [bool per sample]}, validated as
    `score` validates it (a ragged or malformed mapping raises, naming the problem)."""
    ids, counts, n = _counts(per_problem, what)
    return ids, counts / n


def _wilson(p: float, n_eff: float, z: float) -> tuple[float, float]:
    denom = 1 + z * z / n_eff
    centre = (p + z * z / (2 * n_eff)) / denom
    half = z * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _interval(x: np.ndarray, n: int, confidence: float) -> tuple[float, float, float, str]:
    """(low, high, std_err, method) for the mean of per-problem values x in [0, 1].

    Large benchmarks with the mean away from 0 and 1: Student-t interval on the per-problem
    means (the CLT over problems), clipped to [0, 1]. Otherwise a Wilson score interval on an
    effective number of problems n_eff = p(1-p) / se^2 (Kish's design effect, as Korn &
    Graubard 1998 do for clustered proportions): it reduces to the ordinary Wilson interval
    when n = 1, never leaves [0, 1], and stays sensible when p is 0 or 1 (then n_eff = m, the
    number of problems, since the samples of a problem are not independent evidence).
    n_eff is capped at m * n (there is no more information than the samples themselves),
    then scaled by (z / t_{m-1})^2, Korn & Graubard's correction for a variance estimated
    from only m problems.
    """
    m = len(x)
    p = float(x.mean())
    sd = float(x.std(ddof=1)) if m > 1 else 0.0
    se = sd / math.sqrt(m)
    events = min(p, 1 - p) * m
    if m >= CLT_MIN_PROBLEMS and events >= CLT_MIN_EVENTS:
        t = _t_quantile(0.5 + confidence / 2, m - 1)
        return max(0.0, p - t * se), min(1.0, p + t * se), se, "clt"
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    var_bern = p * (1 - p)
    if var_bern <= 0.0:
        n_eff = float(m)
    elif se <= 0.0:
        n_eff = float(m * n)
    else:
        n_eff = min(max(var_bern / se**2, 1.0), float(m * n))
    if m > 1:
        # Korn & Graubard's degrees-of-freedom correction: with m problems the variance is
        # estimated from m values, so shrink n_eff by (z / t_{m-1})^2.
        n_eff *= (z / _t_quantile(0.5 + confidence / 2, m - 1)) ** 2
    lo, hi = _wilson(p, n_eff, z)
    # Wilson is centred off p; keep the point estimate inside its own interval.
    return min(lo, p), max(hi, p), se, "wilson_eff"


def score(per_problem: PerProblem, k: int = 1, confidence: float = 0.95) -> Score:
    """pass@k of one model over a benchmark's problems, with an interval over problems.

    `per_problem` maps problem id -> [bool per sample]; every problem must have the same
    number of samples n >= k (a ragged mapping raises `ValueError` naming the problem).
    The interval treats problems as the unit: see `_interval` for the rule (t-interval for
    >= 30 problems with >= 5 problem-units of successes and failures, else a Wilson interval
    on the effective number of problems). Its coverage is checked by simulation in
    tests/eval/test_metrics.py: about 0.95 in the CLT regime, 0.95-0.98 with 15-30 problems,
    and about 0.925 in a known hard case (30 problems of which only a handful are ever
    solved: the mean rests on those few, and no interval from 30 values can know that).
    """
    _check_confidence(confidence)
    ids, counts, n = _counts(per_problem, "score")
    if not 1 <= k <= n:
        raise ValueError(f"score: k={k} needs at least k samples per problem, but n={n}")
    x = _per_problem_pass(counts, n, k)
    lo, hi, se, method = _interval(x, n, confidence)
    return Score(
        pass_at_k=float(x.mean()),
        ci95=(lo, hi),
        n_problems=len(ids),
        n_samples=n,
        std_err=se,
        k=k,
        confidence=confidence,
        method=method,
    )


def _paired_means(a: PerProblem, b: PerProblem, names: tuple[str, str]) -> tuple[np.ndarray, ...]:
    """Per-problem pass@1 of a and b, aligned on the same problem ids (error if they differ)."""
    ids_a, counts_a, n_a = _counts(a, names[0])
    ids_b, counts_b, n_b = _counts(b, names[1])
    set_a, set_b = set(ids_a), set(ids_b)
    if set_a != set_b:
        only_a = sorted(set_a - set_b)
        only_b = sorted(set_b - set_a)
        raise ValueError(
            f"{names[0]} and {names[1]} must cover the same problems: "
            f"missing from {names[1]}: {only_a[:10]}{' ...' if len(only_a) > 10 else ''}; "
            f"missing from {names[0]}: {only_b[:10]}{' ...' if len(only_b) > 10 else ''}"
        )
    pos_b = {pid: i for i, pid in enumerate(ids_b)}
    order = np.array([pos_b[pid] for pid in ids_a])
    return counts_a / n_a, counts_b[order] / n_b


def recovery(
    student: PerProblem,
    teacher: PerProblem,
    confidence: float = 0.95,
    n_boot: int = 4000,
    seed: int = 0,
) -> Recovery:
    """How much of the teacher's pass@1 the student recovers: student pass@1 / teacher pass@1.

    The interval is a percentile bootstrap over problems, *paired*: each resample draws one
    set of problems and computes both models' pass@1 on it, so the shared difficulty of a
    problem cancels in the ratio. Seeded, hence reproducible. Both mappings must cover the
    same problem ids (`ValueError` naming the missing ids). A teacher pass@1 of 0 gives
    `ratio=None` with a reason.
    """
    _check_confidence(confidence)
    if n_boot < 100:
        raise ValueError(f"recovery: n_boot must be >= 100, got {n_boot}")
    s, t = _paired_means(student, teacher, ("student", "teacher"))
    t_mean = float(t.mean())
    if t_mean == 0.0:
        return Recovery(None, None, reason="teacher pass@1 is 0: recovery is undefined")
    ratio = float(s.mean()) / t_mean
    rng = np.random.default_rng(seed)
    m = len(s)
    idx = rng.integers(0, m, size=(n_boot, m))
    s_b = s[idx].mean(axis=1)
    t_b = t[idx].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_b = np.where(t_b > 0, s_b / np.where(t_b > 0, t_b, 1.0), np.inf)
    alpha = 1 - confidence
    # inverted_cdf picks order statistics (no interpolation), so an inf resample only
    # reaches the bound when more than alpha/2 of resamples have a zero teacher.
    lo, hi = np.quantile(r_b, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    reason = ""
    if math.isinf(hi):
        reason = "teacher pass@1 is 0 in too many resamples: the interval has no upper bound"
    return Recovery(ratio, (float(min(lo, ratio)), float(max(hi, ratio))), reason, n_boot)


def difference(a: PerProblem, b: PerProblem, confidence: float = 0.95) -> Difference:
    """Paired difference of pass@1, a minus b, over the same problems, with a t-interval.

    The per-problem differences d_i = pass@1_a(i) - pass@1_b(i) are the unit; the interval is
    mean(d) +/- t_{m-1} * sd(d) / sqrt(m), clipped to [-1, 1]. Pairing removes the
    between-problem variance both models share, which is what makes "verified beats
    answer_only beyond the intervals" decidable on a few hundred problems. When every
    per-problem difference is the same the estimated spread is 0 and the interval collapses to
    the point (only plausible with many problems); with one problem it is [-1, 1].
    """
    _check_confidence(confidence)
    xa, xb = _paired_means(a, b, ("a", "b"))
    d = xa - xb
    m = len(d)
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(m) if m > 1 else 0.0
    t = _t_quantile(0.5 + confidence / 2, m - 1) if m > 1 else math.inf
    if m == 1:
        lo, hi = -1.0, 1.0
    else:
        lo, hi = max(-1.0, mean - t * se), min(1.0, mean + t * se)
    return Difference(mean, (lo, hi), bool(lo > 0 or hi < 0), m, se)
