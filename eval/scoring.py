"""A benchmark's metrics from its per-problem records: pass@k, maj@k, lengths, warnings.

Per-problem records (what results.json stores) hold, for each of the n samples in index
order: `correct`, `reasons`, `format_decided` (the format check failed the sample before its
answer counted), `tokens` (completion tokens), `finish` (finish reason) and `answers` (the
extracted answer, or None). Every interval is over problems and names its
method (see `metrics.score`).

maj@k: over the first k samples of a problem, the extracted answers vote; answers are grouped
by math-verify equivalence (so `1/2` and `0.5` count together); the largest group wins and is
correct when its first member was judged correct. A tie between groups is broken in favour of
the group whose first answer came earliest, and the number of problems decided by a tie is
reported with the value. Samples without an answer do not vote; a problem where none voted
counts as wrong. maj@k is reported for math benchmarks only: programs have no answer to vote
on (two different programs can both pass).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reasoning_distill.eval.metrics import score

logger = logging.getLogger(__name__)

TIE_RULE = "ties go to the group whose first answer came earliest"
# Samples per problem the common protocols use (open-r1's reproduction of DeepSeek-R1).
COMMON_N = {"aime": 64, "math500": 4, "livecodebench": 16}

Equivalence = Callable[[list[tuple[str, str]]], list[bool]]


def _ks(n: int) -> list[int]:
    ks = {1, n}
    k = 2
    while k < n:
        ks.add(k)
        k *= 2
    return sorted(ks)


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); 0.0 for no values."""
    if not values:
        return 0.0
    srt = sorted(values)
    return float(srt[max(0, math.ceil(q / 100 * len(srt)) - 1)])


def length_stats(tokens: Sequence[int], finish: Sequence[str]) -> dict[str, float | int]:
    """Mean, p50, p95 of completion tokens and the share stopped by the token limit."""
    n = len(tokens)
    return {
        "samples": n,
        "mean": float(sum(tokens) / n) if n else 0.0,
        "p50": _percentile(tokens, 50),
        "p95": _percentile(tokens, 95),
        "truncation_rate": (sum(f == "length" for f in finish) / n) if n else 0.0,
    }


def _union_find_groups(answers: list[str], same: Mapping[tuple[str, str], bool]) -> list[int]:
    parent = list(range(len(answers)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(answers)):
        for j in range(i):
            if same.get((answers[j], answers[i])) and find(i) != find(j):
                parent[find(i)] = find(j)
    return [find(i) for i in range(len(answers))]


def majority_at_k(
    problems: Sequence[Mapping[str, Any]], n: int, equivalent: Equivalence
) -> dict[str, dict[str, Any]]:
    """maj@k for k = 1, 2, 4, ... and n: {"maj@k": {"value", "ties", "tie_rule"}}."""
    # Distinct answer strings per problem; equivalence is asked once per pair, in one batch.
    pairs: set[tuple[str, str]] = set()
    for p in problems:
        distinct = list(dict.fromkeys(str(a).strip() for a in p["answers"] if a))
        pairs.update((distinct[j], distinct[i]) for i in range(len(distinct)) for j in range(i))
    ordered = sorted(pairs)
    same = dict(zip(ordered, equivalent(ordered), strict=True)) if ordered else {}
    out: dict[str, dict[str, Any]] = {}
    for k in _ks(n):
        correct = ties = 0
        for p in problems:
            votes = [
                (i, str(a).strip()) for i, a in enumerate(p["answers"][:k]) if a and str(a).strip()
            ]
            if not votes:
                continue
            distinct = list(dict.fromkeys(a for _, a in votes))
            root = _union_find_groups(distinct, same)
            group_of = {a: root[distinct.index(a)] for a in distinct}
            sizes: dict[int, list[int]] = {}
            for i, a in votes:
                sizes.setdefault(group_of[a], []).append(i)
            best = max(len(m) for m in sizes.values())
            winners = [m for m in sizes.values() if len(m) == best]
            ties += len(winners) > 1
            first = min(winners, key=lambda m: m[0])[0]
            correct += bool(p["correct"][first])
        out[f"maj@{k}"] = {
            "value": correct / len(problems) if problems else 0.0,
            "ties": ties,
            "tie_rule": TIE_RULE,
        }
    return out


_EQUIVALENCE_CHUNK = 4096  # answer pairs graded per call


def math_equivalence(workers: int | None = None) -> Equivalence:
    """Pairwise math-verify equivalence of answer strings, graded in worker processes."""

    def check(pairs: list[tuple[str, str]]) -> list[bool]:
        from reasoning_distill.verifiers import verify_math_batch

        out: list[bool] = []
        for lo in range(0, len(pairs), _EQUIVALENCE_CHUNK):  # held: one chunk's verdicts
            chunk = pairs[lo : lo + _EQUIVALENCE_CHUNK]
            verdicts = verify_math_batch(
                [f"\\boxed{{{b}}}" for _, b in chunk], [a for a, _ in chunk], workers=workers
            )
            out += [v.correct for v in verdicts]
        return out

    return check


def _family(benchmark: str) -> str | None:
    name = benchmark.lower()
    for family in COMMON_N:
        if name.startswith(family):
            return family
    return None


def sample_size_warning(benchmark: str, n: int, ci: tuple[float, float], m: int) -> str | None:
    """A warning when n is below what the common protocols use for this benchmark."""
    family = _family(benchmark)
    if family is None or n >= COMMON_N[family]:
        return None
    width = ci[1] - ci[0]
    return (
        f"{benchmark}: n={n} sample(s) per problem on {m} problems gives a pass@1 interval "
        f"{width:.3f} wide ({ci[0]:.3f} to {ci[1]:.3f}); the common protocols use "
        f"n={COMMON_N[family]} for {family} (open-r1: 64 for AIME, 4 for MATH-500, "
        "16 for LiveCodeBench)"
    )


def format_decided(problems: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """How many verdicts the format check decided, and why; None when the records do not say
    (results written without `format_decided`)."""
    if not problems or any(
        len(p.get("format_decided") or ()) != len(p["correct"]) or "reasons" not in p
        for p in problems
    ):
        return None
    total = sum(len(p["correct"]) for p in problems)
    reasons = Counter(
        r
        for p in problems
        for r, decided in zip(p["reasons"], p["format_decided"], strict=True)
        if decided
    )
    count = sum(reasons.values())
    return {
        "count": count,
        "of": total,
        "share": count / total if total else 0.0,
        "by_reason": dict(reasons.most_common()),
    }


def format_decided_text(d: Mapping[str, Any] | None) -> str:
    """`12 of 160 (no_think 10, truncated 2)`, or `n/a` when the records do not say."""
    if d is None:
        return "n/a"
    why = ", ".join(f"{r} {c}" for r, c in d["by_reason"].items())
    return f"{d['count']} of {d['of']}" + (f" ({why})" if why else "")


def benchmark_metrics(
    benchmark: str,
    kind: str,
    problems: Sequence[Mapping[str, Any]],
    n: int,
    equivalent: Equivalence | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """(metrics, warnings) of one model on one benchmark from its per-problem records."""
    per_problem = {p["id"]: p["correct"] for p in problems}  # read only
    metrics: dict[str, Any] = {"n": n, "n_problems": len(problems)}
    for k in range(1, n + 1):
        s = score(per_problem, k=k)
        metrics[f"pass@{k}"] = {
            "value": s.pass_at_k,
            "ci95": [s.ci95[0], s.ci95[1]],
            "ci_method": s.method,
            "std_err": s.std_err,
        }
    metrics["pass@k_estimator"] = "unbiased: 1 - C(n-c, k) / C(n, k), mean over problems"
    metrics["ci_note"] = (
        "95% intervals over problems: t-interval ('clt') for >= 30 problems with >= 5 "
        "successes and failures, else a Wilson interval on the effective number of problems "
        "('wilson_eff')"
    )
    if kind == "math" and equivalent is not None:
        metrics.update(majority_at_k(problems, n, equivalent))
    tokens = [t for p in problems for t in p["tokens"]]
    finish = [f for p in problems for f in p["finish"]]
    ok_tokens, ok_finish = [], []  # of the correct samples (two flat lists, no pair each)
    for p in problems:
        for t, f, c in zip(p["tokens"], p["finish"], p["correct"], strict=True):
            if c:
                ok_tokens.append(t)
                ok_finish.append(f)
    decided = format_decided(problems)
    if decided is not None:
        metrics["format_decided"] = decided
    metrics["length"] = {
        "all": length_stats(tokens, finish),
        "correct": length_stats(ok_tokens, ok_finish),
        "unit": "completion tokens",
    }
    warnings = []
    p1 = metrics["pass@1"]
    w = sample_size_warning(benchmark, n, tuple(p1["ci95"]), len(problems))
    if w:
        warnings.append(w)
    return metrics, warnings
