"""The teacher-gap report from results envelopes: one teacher, one or more students.

Per benchmark both models cover: pass@1 of each with its interval, recovery = student /
teacher with a paired bootstrap interval, the paired difference student - teacher with a
t-interval over problems; the per-problem table (a problem counts as solved by a model when at
least half its samples are correct); the gap by difficulty (the problems' own level, as in
MATH, or difficulty, as in LiveCodeBench; elsewhere bands of the teacher's per-problem pass
rate) and by trace length (quartiles of the teacher's mean completion tokens per problem).

Manifests are compared first (`manifest.compare_manifests`): any difference that changes the
numbers refuses the comparison with every difference named, unless `allow_mismatch`, which
keeps them at the top of the report.

A student given as a list of results is one recipe over several training seeds
(`eval.gap_seeds`): its problem tables pool the seeds' samples, and its entry's `seeds` holds
pass@1, recovery and the difference with intervals that include seed variance, per seed and
pooled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from reasoning_distill.eval.gap_seeds import pooled_benchmark, seed_fields
from reasoning_distill.eval.manifest import compare_manifests, public_manifest
from reasoning_distill.eval.metrics import difference, recovery, score
from reasoning_distill.eval.scoring import format_decided

from reasoning_distill.errors import ConfigError

logger = logging.getLogger(__name__)

SOLVED_AT = 0.5
PASS_RATE_BANDS = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))


class ManifestMismatch(ConfigError):
    """Results made under different protocols: comparing them would mislead."""


def _rates(problems: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    return {p["id"]: sum(p["correct"]) / len(p["correct"]) for p in problems}


def _mean_tokens(problems: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    return {p["id"]: float(np.mean(p["tokens"])) if p.get("tokens") else 0.0 for p in problems}


def _ratio(s: float, t: float) -> float | None:
    return None if t == 0 else s / t


def _group_rows(groups: dict[str, list[str]], t: dict, s: dict) -> list[dict[str, Any]]:
    rows = []
    for label, ids in groups.items():
        if not ids:
            continue
        tm = float(np.mean([t[i] for i in ids]))
        sm = float(np.mean([s[i] for i in ids]))
        rows.append(
            {
                "group": label,
                "n_problems": len(ids),
                "teacher_pass@1": tm,
                "student_pass@1": sm,
                "gap": tm - sm,
                "recovery": _ratio(sm, tm),
            }
        )
    return rows


def _by_difficulty(tp, t: dict, s: dict) -> tuple[str, list[dict[str, Any]]]:
    meta = {p["id"]: p.get("meta") or {} for p in tp}
    for key in ("level", "difficulty"):
        if all(key in m for m in meta.values()):
            labels = sorted({str(m[key]) for m in meta.values()})
            groups = {lab: [i for i, m in meta.items() if str(m[key]) == lab] for lab in labels}
            return f"problem {key}", _group_rows(groups, t, s)
    groups: dict[str, list[str]] = {}
    for lo, hi in PASS_RATE_BANDS:
        label = f"teacher pass rate {'[' if lo == 0 else '('}{lo:.2f}, {hi:.2f}]"
        groups[label] = [i for i, r in t.items() if (r > lo or lo == 0) and r <= hi]
    return "teacher pass-rate band", _group_rows(groups, t, s)


def _by_length(tp, t: dict, s: dict) -> list[dict[str, Any]]:
    tokens = _mean_tokens(tp)
    ids = sorted(tokens, key=lambda i: (tokens[i], i))
    m = len(ids)
    groups: dict[str, list[str]] = {}
    for q in range(4):
        part = ids[q * m // 4 : (q + 1) * m // 4]
        if part:
            label = f"Q{q + 1}: {tokens[part[0]]:.0f}-{tokens[part[-1]]:.0f} tokens"
            groups[label] = part
    return _group_rows(groups, t, s)


def _interval(ci: tuple[float, float] | None) -> list[float | None] | None:
    if ci is None:
        return None
    return [float(ci[0]), None if math.isinf(ci[1]) else float(ci[1])]


def compare_benchmark(
    bench: str, teacher: Mapping[str, Any], student: Mapping[str, Any]
) -> dict[str, Any]:
    """The gap on one benchmark between two models' per-problem records."""
    tp, sp = teacher["problems"], student["problems"]
    t_pp = {p["id"]: p["correct"] for p in tp}
    s_pp = {p["id"]: p["correct"] for p in sp}
    if set(t_pp) != set(s_pp):
        missing = sorted(set(t_pp) ^ set(s_pp))[:5]
        raise ManifestMismatch(
            f"{bench}: teacher and student cover different problems (e.g. {missing})"
        )
    ts, ss = score(t_pp), score(s_pp)
    rec = recovery(s_pp, t_pp)
    diff = difference(s_pp, t_pp)
    t, s = _rates(tp), _rates(sp)
    table = {"both": 0, "teacher_only": 0, "student_only": 0, "neither": 0}
    rows = []
    for pid in t:
        ts_ok, ss_ok = t[pid] >= SOLVED_AT, s[pid] >= SOLVED_AT
        cell = (
            "both"
            if ts_ok and ss_ok
            else "teacher_only"
            if ts_ok
            else "student_only"
            if ss_ok
            else "neither"
        )
        table[cell] += 1
        rows.append({"id": pid, "teacher": t[pid], "student": s[pid], "solved_by": cell})
    basis, by_difficulty = _by_difficulty(tp, t, s)
    return {
        "format_decided": {"teacher": format_decided(tp), "student": format_decided(sp)},
        "teacher": {"pass@1": ts.pass_at_k, "ci95": list(ts.ci95), "ci_method": ts.method},
        "student": {"pass@1": ss.pass_at_k, "ci95": list(ss.ci95), "ci_method": ss.method},
        "n_problems": ts.n_problems,
        "n_samples": ts.n_samples,
        "recovery": rec.ratio,
        "recovery_ci95": _interval(rec.ci95),
        "recovery_method": f"paired percentile bootstrap over problems ({rec.n_boot} resamples)",
        "recovery_note": rec.reason,
        "difference": diff.diff,
        "difference_ci95": list(diff.ci95),
        "difference_method": "paired t-interval over per-problem pass@1 (student - teacher)",
        "separated": diff.separated,
        "problem_table": table,
        "solved_rule": f"solved = at least {SOLVED_AT:.0%} of a problem's samples correct",
        "by_difficulty": {"basis": basis, "rows": by_difficulty},
        "by_trace_length": {
            "basis": "quartiles of the teacher's mean completion tokens per problem",
            "rows": _by_length(tp, t, s),
        },
        "problems": rows,
    }


def build_gap(
    teacher: Mapping[str, Any],
    students: Mapping[str, Mapping[str, Any]],
    allow_mismatch: bool = False,
) -> dict[str, Any]:
    """The gap report (JSON-ready) of each student against the teacher."""
    if not students:
        raise ConfigError("a gap report needs at least one student's results")
    # A student given as a list of results is one recipe trained over several seeds.
    seed_runs = {n: list(e) for n, e in students.items() if isinstance(e, list | tuple)}
    students = {n: (e[0] if n in seed_runs else e) for n, e in students.items()}
    for name, runs in seed_runs.items():
        if not runs:
            raise ConfigError(f"student {name}: no results given")
    t_name = teacher["model"]["name"]
    mismatches: dict[str, list[str]] = {}
    notes: dict[str, list[str]] = {}
    for name, env in students.items():
        for run in seed_runs.get(name, [env]):
            hard, soft = compare_manifests(teacher["manifest"], run["manifest"], (t_name, name))
            if hard:
                mismatches.setdefault(name, []).extend(
                    d for d in hard if d not in mismatches.get(name, [])
                )
            if soft:
                notes.setdefault(name, []).extend(d for d in soft if d not in notes.get(name, []))
    if mismatches and not allow_mismatch:
        lines = [f"{s}: {d}" for s, ds in mismatches.items() for d in ds]
        raise ManifestMismatch(
            f"refusing to compare results made under different protocols ({len(lines)} "
            f"difference(s)): {'; '.join(lines)}. Rerun under one protocol, or pass "
            "--allow-mismatch to report anyway with the differences listed"
        )
    benchmarks: dict[str, dict[str, Any]] = {}
    for name, env in students.items():
        seeds = seed_runs.get(name, [env])
        for bench, tb in teacher["benchmarks"].items():
            if any(bench not in run["benchmarks"] for run in seeds):
                continue
            runs = [run["benchmarks"][bench] for run in seeds]
            if len(runs) == 1:
                benchmarks.setdefault(bench, {})[name] = compare_benchmark(bench, tb, runs[0])
                continue
            where = [str(run.get("_path", i)) for i, run in enumerate(seeds)]
            try:
                pooled = pooled_benchmark(runs, where)
            except ValueError as e:
                raise ManifestMismatch(f"{bench}, student {name}: {e}") from None
            entry = compare_benchmark(bench, tb, pooled)
            labels = [_seed_label(run, i) for i, run in enumerate(seeds)]
            if len(set(labels)) < len(labels):
                labels = [f"seed {i}" for i in range(len(seeds))]
            entry.update(seed_fields(tb, runs, labels))
            benchmarks.setdefault(bench, {})[name] = entry
    if not benchmarks:
        raise ConfigError("teacher and students share no benchmark: nothing to compare")
    return {
        "teacher": t_name,
        "students": list(students),
        "mismatches": mismatches,
        "allowed_mismatch": bool(mismatches),
        "notes": notes,
        "benchmarks": benchmarks,
        "manifest": public_manifest(teacher["manifest"]),
        "sources": {
            t_name: teacher.get("_path"),
            **{
                n: [r.get("_path") for r in seed_runs[n]] if n in seed_runs else e.get("_path")
                for n, e in students.items()
            },
        },
    }


def _seed_label(run: Mapping[str, Any], i: int) -> str:
    """A seed's name in the report: its results folder's name, else its position."""
    path = run.get("_path")
    if not path:
        return f"seed {i}"
    p = Path(path)
    return p.parent.name if p.name == "results.json" else p.stem


def write_gap(gap: dict[str, Any], out: str | Path) -> Path:
    """Write gap.json, gap.md and gap.html (plots embedded) into `out`; log to wandb if set."""
    from reasoning_distill.eval.gap_html import render_gap_markdown, render_html
    from reasoning_distill.eval.plots import recovery_plot_png, scatter_plot_png

    from reasoning_distill.atomic import atomic_write_json, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = {"recovery": recovery_plot_png(gap)}
    for bench in gap["benchmarks"]:
        plots[f"scatter:{bench}"] = scatter_plot_png(gap, bench)
    md = render_gap_markdown(gap)
    html = render_html(gap, plots)
    atomic_write_text(out / "gap.md", md)
    atomic_write_text(out / "gap.html", html)
    atomic_write_json(out / "gap.json", _json_safe(gap), allow_nan=False)
    log_to_wandb(gap, out)
    logger.info("wrote the teacher-gap report to %s", out)
    return out


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def wandb_configured() -> bool:
    import os

    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode == "disabled":
        return False
    return bool(mode) or bool(os.environ.get("WANDB_API_KEY"))


def log_to_wandb(gap: dict[str, Any], out: Path) -> bool:
    """Log the gap numbers and the page to wandb when WANDB_MODE or WANDB_API_KEY is set."""
    if not wandb_configured():
        return False
    try:
        import wandb
    except ImportError:
        logger.warning("WANDB_MODE/WANDB_API_KEY is set but wandb is not installed: not logged")
        return False
    run = wandb.init(
        project="rdistill-gap", job_type="gap", config={"teacher": gap["teacher"]}, dir=str(out)
    )
    try:
        summary = {}
        table = wandb.Table(columns=["benchmark", "student", "teacher", "student_p1", "recovery"])
        for bench, per in gap["benchmarks"].items():
            for student, g in per.items():
                summary[f"{bench}/{student}/recovery"] = g["recovery"]
                summary[f"{bench}/{student}/pass@1"] = g["student"]["pass@1"]
                summary[f"{bench}/teacher/pass@1"] = g["teacher"]["pass@1"]
                table.add_data(
                    bench, student, g["teacher"]["pass@1"], g["student"]["pass@1"], g["recovery"]
                )
        run.log({**{k: v for k, v in summary.items() if v is not None}, "gap": table})
        run.log({"gap_report": wandb.Html(str(out / "gap.html"))})
    finally:
        run.finish()
    return True
