"""The teacher-gap report: every model's pass@1 with intervals, recovery, paired comparisons.

Input is the plain result structure `{benchmark: {model: {problem_id: [bool per sample]}}}`,
so the report can be rebuilt from a saved results file (`rdistill gap`) without any model.
Output is `report.json` (the numbers), `report.md` (the same as tables a person reads at a
glance) and a PNG plot; each file is written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reasoning_distill.eval.metrics import difference, recovery, score

from reasoning_distill.atomic import atomic_write_text
from reasoning_distill.markdown import md_code_span, md_text
from reasoning_distill.numbers import fmt_ci as _fmt_ci
from reasoning_distill.numbers import fmt_num as _fmt

logger = logging.getLogger(__name__)

Results = Mapping[str, Mapping[str, Mapping[str, Sequence[bool]]]]
_RESERVED = ("benchmarks", "verification", "protocol", "comparisons", "teacher")


def _interval_list(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [float(interval[0]), float(interval[1])]


def _model_entry(per_problem: Any, teacher_pp: Any, is_teacher: bool) -> dict[str, Any]:
    s = score(per_problem, k=1)
    entry: dict[str, Any] = {
        "pass@1": s.pass_at_k,
        "ci95": _interval_list(s.ci95),
        "recovery": None,
        "recovery_ci95": None,
        "n_problems": s.n_problems,
        "n_samples": s.n_samples,
        "std_err": s.std_err,
        "ci_method": s.method,
    }
    if teacher_pp is None:
        entry["recovery_note"] = "no teacher results on this benchmark"
        return entry
    if is_teacher:
        if s.pass_at_k == 0.0:  # 0 / 0: the teacher recovers nothing of itself to compare with
            entry["recovery_note"] = "teacher pass@1 is 0: recovery is undefined"
        else:
            entry["recovery"], entry["recovery_ci95"] = 1.0, [1.0, 1.0]
        return entry
    r = recovery(per_problem, teacher_pp)
    entry["recovery"] = r.ratio
    if r.ci95 is not None:
        lo, hi = r.ci95
        # JSON has no infinity: an unbounded upper end is written as null with the reason.
        entry["recovery_ci95"] = [lo, None if hi == float("inf") else hi]
    if r.reason:
        entry["recovery_note"] = r.reason
    return entry


def _runs(value: Any) -> list | None:
    """A model's results over training seeds (a list of per-problem dicts), else None."""
    return list(value) if isinstance(value, list | tuple) else None


def _seed_entry(runs: list, teacher_pp: Any, seeds: Sequence[Any]) -> dict[str, Any]:
    """A model trained over seeds: pooled pass@1 and recovery with seed-aware intervals, each
    seed's value beside them (eval.seeds)."""
    from reasoning_distill.eval.seeds import seed_recovery, seed_score

    sc = seed_score(runs, seeds)
    first = score(runs[0], k=1)
    entry = sc.to_dict("pass@1")
    entry.update(
        recovery=None, recovery_ci95=None, recovery_per_seed=None, n_samples=first.n_samples
    )
    if teacher_pp is None:
        entry["recovery_note"] = "no teacher results on this benchmark"
        return entry
    rec = seed_recovery(runs, teacher_pp, seeds)
    entry["recovery"] = rec.value
    entry["recovery_ci95"] = rec.ci95_json()
    entry["recovery_per_seed"] = list(rec.per_seed)
    entry["recovery_method"] = rec.ci_method
    if rec.note:
        entry["recovery_note"] = rec.note
    return entry


def _seed_comparison(a: list, b: list, seeds: Sequence[Any]) -> dict[str, Any]:
    from reasoning_distill.eval.seeds import seed_difference

    d = seed_difference(a, b, seeds)
    out = d.to_dict("diff")
    out["separated"] = d.settled  # never with one seed: seed variance was not measured
    return out


def build_gap_report(
    results: Results,
    teacher: str = "teacher",
    verification: dict | None = None,
    protocol: dict | None = None,
    extra: dict | None = None,
    compare: Sequence[tuple[str, str]] = (),
    seeds: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Build the teacher-gap report as a JSON-ready dict.

    A model whose value is a list of per-problem dicts was trained over several seeds
    (`seeds` names them, same order; default 0, 1, ...): its entry holds `seeds`, `per_seed`,
    the pooled `pass@1`, its `ci95` and `ci_method` with seed variance included, and recovery
    likewise; a comparison of two such models is paired within each seed, then pooled, and is
    `separated` only with two or more seeds (eval.seeds). A single run (the teacher) stands
    beside every seed of the other side.

    For each benchmark and model: pass@1 (mean over the n samples, averaged over problems),
    its 95% interval over problems, recovery = pass@1 / teacher pass@1 with a paired
    bootstrap interval, n_problems and n_samples. `compare` lists (a, b) model pairs whose
    paired difference a - b goes under `comparisons[benchmark]["a vs b"]` with `separated`
    (the interval excludes 0). `verification` and `protocol` are copied as given; `extra`
    keys (e.g. `targets`: [{name, met, detail}]) are added at the top level.
    Raises ValueError on ragged samples or models that cover different problems.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("build_gap_report: results must map benchmark -> model -> per-problem")
    benchmarks: dict[str, dict[str, Any]] = {}
    comparisons: dict[str, dict[str, Any]] = {}
    for bench, models in results.items():
        if not isinstance(models, Mapping) or not models:
            raise ValueError(f"build_gap_report: benchmark {bench!r} has no models")
        teacher_pp = models.get(teacher)
        entries: dict[str, Any] = {}
        # Teacher first so tables and plots read top-down from the reference.
        order = ([teacher] if teacher in models else []) + [m for m in models if m != teacher]
        for model in order:
            runs = _runs(models[model])
            try:
                if runs is None:
                    entries[model] = _model_entry(models[model], teacher_pp, model == teacher)
                else:
                    names = list(seeds) if seeds is not None else list(range(len(runs)))
                    entries[model] = _seed_entry(runs, teacher_pp, names)
            except (ValueError, TypeError) as e:
                raise type(e)(f"benchmark {bench!r}, model {model!r}: {e}") from e
        benchmarks[bench] = entries
        for a, b in compare:
            key = f"{a} vs {b}"
            if a not in models or b not in models:
                missing = [m for m in (a, b) if m not in models]
                comparisons.setdefault(bench, {})[key] = {
                    "a": a,
                    "b": b,
                    "skipped": f"no results for {missing} on {bench}",
                }
                continue
            ra, rb = _runs(models[a]), _runs(models[b])
            if ra is not None or rb is not None:
                n = len(ra if ra is not None else rb)
                ra = ra if ra is not None else [models[a]] * n
                rb = rb if rb is not None else [models[b]] * n
                names = list(seeds) if seeds is not None else list(range(n))
                try:
                    entry = _seed_comparison(ra, rb, names)
                except ValueError as e:
                    raise ValueError(f"benchmark {bench!r}, comparison {key!r}: {e}") from e
                comparisons.setdefault(bench, {})[key] = {"a": a, "b": b, **entry}
                continue
            try:
                d = difference(models[a], models[b])
            except ValueError as e:
                raise ValueError(f"benchmark {bench!r}, comparison {key!r}: {e}") from e
            comparisons.setdefault(bench, {})[key] = {
                "a": a,
                "b": b,
                "diff": d.diff,
                "ci95": _interval_list(d.ci95),
                "separated": d.separated,
                "n_problems": d.n_problems,
                "ci_method": "paired t over problems",
            }
    report: dict[str, Any] = {
        "teacher": teacher,
        "benchmarks": benchmarks,
        "comparisons": comparisons,
        "verification": dict(verification or {}),
        "protocol": dict(protocol or {}),
    }
    for key, value in (extra or {}).items():
        if key in _RESERVED:
            raise ValueError(f"build_gap_report: extra key {key!r} would overwrite the report's")
        report[key] = value
    return report


# ---------------------------------------------------------------- markdown


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    # Cells are Markdown already: callers pass data through md_text / md_code_span.
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def _verification_md(v: Mapping[str, Any]) -> list[str]:
    """Yield tables: {generated, kept, by_reason} at the top level or one level down."""

    def one(d: Mapping[str, Any]) -> list[str]:
        gen, kept = d.get("generated"), d.get("kept")
        out = []
        if gen is not None and kept is not None:
            share = f" ({kept / gen:.1%})" if gen else ""
            out.append(f"kept {md_text(kept)} of {md_text(gen)} generated{share}")
            out.append("")
        reasons = d.get("by_reason") or {}
        if reasons:
            total = sum(reasons.values()) or 1
            rows = [
                [md_text(r), md_text(c), f"{c / total:.1%}"]
                for r, c in sorted(reasons.items(), key=lambda kv: -kv[1])
            ]
            out += _table(["reason", "count", "share"], rows)
            out.append("")
        return out

    if not v:
        return ["(none recorded)", ""]
    if "by_reason" in v or "generated" in v:
        return one(v)
    lines: list[str] = []
    for name, sub in v.items():
        if isinstance(sub, Mapping) and ("by_reason" in sub or "generated" in sub):
            lines += [f"**{md_text(name)}**", ""] + one(sub)
        else:
            code = md_code_span(json.dumps(sub, default=str), in_table=False)
            lines += [f"- {md_text(name)}: {code}"]
    return lines + [""]


def _status(met: bool | None) -> str:
    """MET / MISSED, or "n/a" where this run cannot tell (a warm cache for a cold-start target)."""
    return "n/a" if met is None else ("MET" if met else "MISSED")


def _per_seed(e: Mapping[str, Any], signed: bool = False) -> str:
    values = e.get("per_seed")
    if values is None:
        return "(one run)"
    return ", ".join(_fmt(v, signed=signed) for v in values)


def _method_lines(entries: Any) -> list[str]:
    """One line naming the intervals' methods, and the one-seed warning where it applies."""
    entries = [e for e in entries if "per_seed" in e]
    if not entries:
        return []
    methods = sorted({str(e.get("ci_method")) for e in entries})
    lines = [f"Intervals over seeds: {md_text('; '.join(methods))}."]
    if any(len(e["per_seed"]) < 2 for e in entries):
        lines[0] += (
            " One training seed: seed variance was not measured, so these intervals understate "
            "the uncertainty about a training recipe and no comparison is settled."
        )
    return lines + [""]


def render_markdown(report: Mapping[str, Any], title: str = "Teacher-gap report") -> str:
    """The report as markdown: per-benchmark tables, comparisons, verification, protocol, targets."""
    teacher = report.get("teacher", "teacher")
    lines = [f"# {md_text(title)}", ""]
    targets = report.get("targets")
    if targets:
        lines += ["## Targets", ""]
        rows = [
            [md_text(t.get("name", "")), _status(t.get("met")), md_text(t.get("detail", ""))]
            for t in targets
        ]
        lines += _table(["target", "status", "detail"], rows) + [""]
    for bench, models in report.get("benchmarks", {}).items():
        lines += [f"## {md_text(bench)}", ""]
        rows = []
        seeded = any("per_seed" in e for e in models.values())
        for model, e in models.items():
            rec = _fmt(e.get("recovery"))
            rec_ci = _fmt_ci(e.get("recovery_ci95"))
            if e.get("recovery") is None and e.get("recovery_note"):
                rec_ci = md_text(e["recovery_note"])
            rows.append(
                [
                    f"**{md_text(model)}**" if model == teacher else md_text(model),
                    _fmt(e["pass@1"]),
                    _fmt_ci(e["ci95"]),
                    rec,
                    rec_ci,
                    f"{e['n_problems']} x {e['n_samples']}",
                ]
                + ([_per_seed(e)] if seeded else [])
            )
        header = ["model", "pass@1", "95% CI", "recovery", "95% CI", "problems x samples"]
        lines += _table(header + (["pass@1 per seed"] if seeded else []), rows)
        lines.append("")
        lines += _method_lines(models.values())
    comps = report.get("comparisons") or {}
    if comps:
        lines += ["## Comparisons (paired, a - b)", ""]
        rows = []
        seeded = any("per_seed" in c for pairs in comps.values() for c in pairs.values())
        for bench, pairs in comps.items():
            for key, c in pairs.items():
                if "skipped" in c:
                    row = [md_text(bench), md_text(key), "n/a", "n/a", md_text(c["skipped"])]
                    rows.append(row + (["n/a"] if seeded else []))
                else:
                    verdict = "yes" if c["separated"] else "no"
                    if "per_seed" in c and len(c["per_seed"]) < 2:
                        verdict = "not settled (one seed)"
                    rows.append(
                        [
                            md_text(bench),
                            md_text(key),
                            f"{c['diff']:+.3f}",
                            _fmt_ci(c["ci95"]),
                            verdict,
                        ]
                        + ([_per_seed(c, signed=True)] if seeded else [])
                    )
        header = ["benchmark", "a vs b", "diff", "95% CI", "beyond the interval"]
        lines += _table(header + (["diff per seed"] if seeded else []), rows)
        lines.append("")
        lines += _method_lines(c for pairs in comps.values() for c in pairs.values())
    for extra in (report.get("sections") or {}).values():  # e.g. the demo's white-box answer
        # The section's markdown is ours (demo/white_box.py escapes what it quotes).
        lines += [f"## {md_text(extra['title'])}", "", extra["markdown"].rstrip("\n"), ""]
    lines += ["## Verification yield", ""] + _verification_md(report.get("verification") or {})
    lines += ["## Protocol", ""]
    proto = report.get("protocol") or {}
    if proto:
        rows = [[md_text(k), md_code_span(json.dumps(v, default=str))] for k, v in proto.items()]
        lines += _table(["setting", "value"], rows)
    else:
        lines.append("(none recorded)")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- files


def write_report(
    report: dict[str, Any], out_dir: Path, title: str = "Teacher-gap report"
) -> dict[str, Path]:
    """Write report.json, report.md and report.png into `out_dir`; return their paths.

    Everything is rendered in memory first (JSON with allow_nan off), so a report that cannot
    be serialised fails before any file is touched; then each file is written atomically
    (temp file + rename), report.json last, so its presence means the set is complete.
    """
    from reasoning_distill.eval.plots import plot_gap

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"write_report: cannot create {out_dir}: {e}") from e
    if not os.access(out_dir, os.W_OK):
        raise PermissionError(f"write_report: cannot write to {out_dir}")
    try:
        text = json.dumps(report, indent=2, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"write_report: the report is not JSON-serialisable: {e}") from e
    md = render_markdown(report, title=title)
    paths = {
        "png": plot_gap(report, out_dir / "report.png", title=title),
        "md": atomic_write_text(out_dir / "report.md", md),
        "json": atomic_write_text(out_dir / "report.json", text + "\n"),
    }
    logger.info("wrote teacher-gap report to %s", out_dir)
    return paths
