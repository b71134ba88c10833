"""Read and summarise results.json envelopes (one model's evaluation).

Shape: `{"format": "rdistill-eval-results", "format_version": 1, "model": {name, path},
"manifest": {...}, "benchmarks": {name: {"metrics": {...}, "problems": [{id, correct,
reasons, answers, tokens, finish, meta}]}}, "warnings": [...]}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reasoning_distill.errors import InputError
from reasoning_distill.numbers import fmt_ci

FORMAT = "rdistill-eval-results"


def results_path(path: str | Path) -> Path:
    """A results.json file, or the folder (`rdistill eval --out DIR/<model>`) holding one."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    return p


def load_results(path: str | Path, flag: str = "results") -> dict[str, Any]:
    """The envelope at `path` (a file or its folder), checked; `InputError` naming what is wrong."""
    p = results_path(path)
    if not p.is_file():
        raise InputError(f"{flag} {path}: no results.json there (run `rdistill eval` first)")
    try:
        env = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(env, dict) or env.get("format") != FORMAT:
        raise InputError(
            f'{p}: not an `rdistill eval` results file (no "format": "{FORMAT}"); '
            "for a plain {benchmark: {model: {problem: [bool]}}} file use `rdistill gap --results`"
        )
    benches = env.get("benchmarks")
    if not isinstance(benches, dict) or not benches:
        raise InputError(f"{p}: has no benchmarks")
    for name, b in benches.items():
        problems = b.get("problems") if isinstance(b, dict) else None
        if not isinstance(problems, list) or not problems:
            raise InputError(f"{p}: benchmark {name!r} has no per-problem results")
        for i, row in enumerate(problems):
            correct = row.get("correct") if isinstance(row, dict) else None
            if not isinstance(correct, list) or not all(isinstance(c, bool) for c in correct):
                raise InputError(
                    f"{p}: benchmark {name!r}, problem {i + 1}: 'correct' must be a list of "
                    "true/false"
                )
    env["_path"] = str(p)
    return env


def per_problem(env: Mapping[str, Any], benchmark: str) -> dict[str, list[bool]]:
    return {r["id"]: list(r["correct"]) for r in env["benchmarks"][benchmark]["problems"]}


def summary_markdown(loaded: Mapping[str, Mapping[str, Any]]) -> str:
    """One table per benchmark: each model's pass@1 (interval), maj@n, lengths, truncation."""
    lines: list[str] = []
    benches: list[str] = []
    for env in loaded.values():
        benches += [b for b in env["benchmarks"] if b not in benches]
    for bench in benches:
        lines += [
            f"## {bench}",
            "",
            "| model | pass@1 | 95% CI (method) | maj@n | mean tokens | p95 tokens | truncated |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, env in loaded.items():
            b = env["benchmarks"].get(bench)
            if b is None:
                continue
            m = b["metrics"]
            n = m["n"]
            p1 = m["pass@1"]
            maj = m.get(f"maj@{n}")
            length = m["length"]["all"]
            lines.append(
                f"| {name} | {p1['value']:.3f} | {fmt_ci(p1['ci95'])} ({p1['ci_method']}) | "
                f"{'n/a' if maj is None else format(maj['value'], '.3f')} | "
                f"{length['mean']:.1f} | {length['p95']:.0f} | {length['truncation_rate']:.1%} |"
            )
        lines.append("")
    return "\n".join(lines)
