"""One student trained over several seeds, against its teacher: the gap with seed-aware intervals.

`rdistill gap --student verified=runs/eval/s0 --student verified=runs/eval/s1 ...` (or several
results whose model has one name) gives one student per name, each seed one results file. The
per-problem tables of the gap report read the seeds' samples pooled; the headline figures
(student pass@1, recovery, difference to the teacher) come from `eval.seeds`, whose intervals
include the variance between seeds, with each seed's value beside the pooled one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reasoning_distill.eval.seeds import seed_difference, seed_recovery, seed_score


def _per_problem(bench: Mapping[str, Any]) -> dict[str, list[bool]]:
    return {p["id"]: list(p["correct"]) for p in bench["problems"]}


def pooled_benchmark(benches: Sequence[Mapping[str, Any]], where: Sequence[str]) -> dict:
    """One benchmark's record with every seed's samples of a problem concatenated, so the
    problem tables read a problem's rate over all seeds. Seeds must cover the same problems."""
    first = {p["id"]: p for p in benches[0]["problems"]}
    for b, src in zip(benches[1:], where[1:], strict=True):
        ids = {p["id"] for p in b["problems"]}
        if ids != set(first):
            odd = sorted(ids ^ set(first))[:5]
            raise ValueError(f"{src} covers other problems than {where[0]} (e.g. {odd})")
    problems = []
    for pid, row in first.items():
        rows = [row] + [next(p for p in b["problems"] if p["id"] == pid) for b in benches[1:]]
        merged = dict(row)
        merged["correct"] = [c for r in rows for c in r["correct"]]
        for key in ("tokens", "reasons", "format_decided", "answers", "finish"):
            if all(isinstance(r.get(key), list) for r in rows):
                merged[key] = [v for r in rows for v in r[key]]
            elif key in ("reasons", "format_decided"):
                merged.pop(key, None)  # not every seed says: none is reported
        problems.append(merged)
    return {**benches[0], "problems": problems}


def seed_fields(
    teacher: Mapping[str, Any], students: Sequence[Mapping[str, Any]], seeds: Sequence[str]
) -> dict[str, Any]:
    """The headline fields of one benchmark's gap entry (student pass@1, recovery, the
    difference to the teacher) over the student's seeds, each with `per_seed` and `ci_method`
    beside it, and `seeds`: the seed names in that order (JSON-ready)."""
    t_pp = _per_problem(teacher)
    s_pp = [_per_problem(b) for b in students]
    score = seed_score(s_pp, seeds)
    rec = seed_recovery(s_pp, t_pp, seeds)
    # The teacher is one run: its per-problem rates stand beside every seed of the student.
    diff = seed_difference(s_pp, [t_pp] * len(s_pp), seeds)
    return {
        "seeds": list(seeds),
        "student": score.to_dict("pass@1"),
        "recovery": rec.value,
        "recovery_ci95": rec.ci95_json(),
        "recovery_method": rec.ci_method,
        "recovery_per_seed": list(rec.per_seed),
        "recovery_note": rec.note or None,
        "difference": diff.value,
        "difference_ci95": list(diff.ci95),
        "difference_method": diff.ci_method,
        "difference_per_seed": list(diff.per_seed),
        "separated": diff.settled,
    }
