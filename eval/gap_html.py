"""The gap report as markdown (gap.md) and as one self-contained page (gap.html).

The page carries its plots as `data:image/png;base64` URIs and no script, stylesheet or font
from anywhere else, so it opens the same from a laptop, a CI artifact or an e-mail.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import Any

from reasoning_distill.markdown import md_text
from reasoning_distill.numbers import fmt_ci as _ci
from reasoning_distill.numbers import fmt_num as _f


def _summary_rows(gap: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for bench, per in gap["benchmarks"].items():
        for student, g in per.items():
            rows.append(
                [
                    bench,
                    student,
                    f"{_f(g['teacher']['pass@1'])} {_ci(g['teacher']['ci95'])}",
                    f"{_f(g['student']['pass@1'])} {_ci(g['student']['ci95'])}",
                    f"{_f(g['recovery'])} {_ci(g['recovery_ci95'])}"
                    if g["recovery"] is not None
                    else f"n/a ({g['recovery_note']})",
                    f"{g['difference']:+.3f} {_ci(g['difference_ci95'])}",
                    f"{g['n_problems']} x {g['n_samples']}",
                ]
            )
    return rows


SUMMARY_HEADER = [
    "benchmark",
    "student",
    "teacher pass@1 (95% CI)",
    "student pass@1 (95% CI)",
    "recovery (95% CI)",
    "student - teacher (paired 95% CI)",
    "problems x samples",
]
TABLE_HEADER = ["solved by both", "teacher only", "student only", "neither"]
GROUP_HEADER = ["group", "problems", "teacher pass@1", "student pass@1", "gap", "recovery"]


def _group_cells(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [
        [
            r["group"],
            str(r["n_problems"]),
            _f(r["teacher_pass@1"]),
            _f(r["student_pass@1"]),
            f"{r['gap']:+.3f}",
            _f(r["recovery"]),
        ]
        for r in rows
    ]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Cells are Markdown already: what comes from the data went through md_text."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out + [""]


SEED_HEADER = ["seed", "student pass@1", "recovery", "student - teacher"]


def _seed_rows(g: Mapping[str, Any]) -> list[list[str]]:
    """Each training seed's figures, then the pooled ones with their seed-aware intervals."""
    rows = [
        [str(seed), _f(p), _f(r), _f(d, signed=True)]
        for seed, p, r, d in zip(
            g["seeds"],
            g["student"]["per_seed"],
            g["recovery_per_seed"],
            g["difference_per_seed"],
            strict=True,
        )
    ]
    rows.append(
        [
            f"pooled ({len(g['seeds'])} seeds)",
            f"{_f(g['student']['pass@1'])} {_ci(g['student']['ci95'])}",
            f"{_f(g['recovery'])} {_ci(g['recovery_ci95'])}",
            f"{_f(g['difference'], signed=True)} {_ci(g['difference_ci95'], signed=True)}",
        ]
    )
    return rows


def _seed_note(g: Mapping[str, Any]) -> str:
    return f"Over training seeds; intervals: {g['student']['ci_method']} (seed variance included)."


def _md_summary_rows(gap: Mapping[str, Any]) -> list[list[str]]:
    """The summary rows with the names (benchmark, student) made plain text."""
    return [[md_text(c) if i in (0, 1) else c for i, c in enumerate(r)] for r in _summary_rows(gap)]


def _md_group_cells(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [[md_text(r[0]), *r[1:]] for r in _group_cells(rows)]


def format_line(gap: Mapping[str, Any], g: Mapping[str, Any]) -> str:
    """How many verdicts of each side the format check decided, under which policy."""
    from reasoning_distill.eval.scoring import format_decided_text

    decided = g.get("format_decided") or {}
    policy = ((gap.get("manifest") or {}).get("verifier") or {}).get("format")
    return (
        "Decided by the format check"
        + (f" ({policy})" if policy else "")
        + f": teacher {format_decided_text(decided.get('teacher'))}; "
        + f"student {format_decided_text(decided.get('student'))}."
    )


def _mismatch_lines(gap: Mapping[str, Any]) -> list[str]:
    return [f"{s}: {d}" for s, ds in gap.get("mismatches", {}).items() for d in ds]


def render_gap_markdown(gap: Mapping[str, Any]) -> str:
    lines = [f"# Teacher-gap report (teacher: {md_text(gap['teacher'])})", ""]
    mism = _mismatch_lines(gap)
    if mism:
        lines += ["**Protocols differ (compared anyway, --allow-mismatch):**", ""]
        lines += [f"- {md_text(m)}" for m in mism] + [""]
    lines += ["## Summary", ""] + _md_table(SUMMARY_HEADER, _md_summary_rows(gap))
    for bench, per in gap["benchmarks"].items():
        for student, g in per.items():
            lines += [f"## {md_text(bench)}: {md_text(student)}", ""]
            if "seeds" in g:
                seed_rows = [[md_text(r[0]), *r[1:]] for r in _seed_rows(g)]
                lines += [md_text(_seed_note(g)), ""] + _md_table(SEED_HEADER, seed_rows)
            t = g["problem_table"]
            lines += [md_text(format_line(gap, g)), ""]
            lines += [md_text(g["solved_rule"]), ""]
            lines += _md_table(TABLE_HEADER, [[str(t[k]) for k in t]])
            lines += [f"Gap by {md_text(g['by_difficulty']['basis'])}:", ""]
            lines += _md_table(GROUP_HEADER, _md_group_cells(g["by_difficulty"]["rows"]))
            lines += [f"Gap by trace length ({md_text(g['by_trace_length']['basis'])}):", ""]
            lines += _md_table(GROUP_HEADER, _md_group_cells(g["by_trace_length"]["rows"]))
    notes = [f"{s}: {n}" for s, ns in gap.get("notes", {}).items() for n in ns]
    if notes:
        lines += ["## Notes", ""] + [f"- {md_text(n)}" for n in notes] + [""]
    lines += [
        "Intervals: pass@1 over problems (method per row in gap.json); recovery by paired "
        "bootstrap over problems; the difference by a paired t-interval. A student over "
        "several training seeds: every interval of its row includes seed variance (method "
        "in its section).",
        "",
    ]
    return "\n".join(lines)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}"
    "th{background:#eee}td:first-child{text-align:left}"
    ".warn{background:#fff3cd;border:1px solid #e0c060;padding:0.5em 1em}"
    "img{max-width:100%}"
)


def render_html(gap: Mapping[str, Any], plots: Mapping[str, bytes]) -> str:
    """One page: mismatches, summary, per-benchmark tables and plots, notes."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Teacher-gap report: {html.escape(gap['teacher'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Teacher-gap report (teacher: {html.escape(gap['teacher'])})</h1>",
    ]
    mism = _mismatch_lines(gap)
    if mism:
        items = "".join(f"<li>{html.escape(m)}</li>" for m in mism)
        parts.append(
            f"<div class='warn' id='mismatches'><b>Protocols differ (compared anyway):</b>"
            f"<ul>{items}</ul></div>"
        )
    parts.append("<h2>Summary</h2>")
    parts.append(_html_table(SUMMARY_HEADER, _summary_rows(gap), "summary"))
    if "recovery" in plots:
        parts.append(_img(plots["recovery"], "recovery per benchmark with 95% intervals"))
    for bench, per in gap["benchmarks"].items():
        parts.append(f"<section class='benchmark' id='bench-{html.escape(bench)}'>")
        parts.append(f"<h2>{html.escape(bench)}</h2>")
        for student, g in per.items():
            t = g["problem_table"]
            parts.append(f"<h3>{html.escape(student)} vs {html.escape(gap['teacher'])}</h3>")
            if "seeds" in g:
                parts.append(f"<p>{html.escape(_seed_note(g))}</p>")
                parts.append(_html_table(SEED_HEADER, _seed_rows(g), "seeds"))
            parts.append(f"<p class='format'>{html.escape(format_line(gap, g))}</p>")
            parts.append(f"<p>{html.escape(g['solved_rule'])}</p>")
            parts.append(_html_table(TABLE_HEADER, [[str(t[k]) for k in t]], "problem-table"))
            parts.append(f"<p>Gap by {html.escape(g['by_difficulty']['basis'])}</p>")
            parts.append(_html_table(GROUP_HEADER, _group_cells(g["by_difficulty"]["rows"])))
            parts.append("<p>Gap by trace length (teacher's mean tokens, quartiles)</p>")
            parts.append(_html_table(GROUP_HEADER, _group_cells(g["by_trace_length"]["rows"])))
        key = f"scatter:{bench}"
        if key in plots:
            parts.append(_img(plots[key], f"{bench}: student vs teacher per-problem pass rate"))
        parts.append("</section>")
    notes = [f"{s}: {n}" for s, ns in gap.get("notes", {}).items() for n in ns]
    if notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{html.escape(n)}</li>" for n in notes]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
