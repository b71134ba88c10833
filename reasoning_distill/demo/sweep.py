"""The demo report's answer to "when does verification pay?".

`benchmarks/verification_sweep.py --demo OUT` trains the demo's `verified` and `unverified`
arms again on traces with another share of wrong ones: the demo's own traces mixed to a wrong
share (`mixed_rows`), or traces the same teacher sampled at another temperature (the demo's
own run is one point), and writes
OUT/verification_sweep/sweep.json: per point the wrong share, and per benchmark verified minus
unverified paired within each training seed and pooled over seeds
(`reasoning_distill.eval.seeds`). This module turns that file into the report's section and
its plot (OUT/verification_sweep.png); a rerun of the demo keeps them while its settings are
unchanged.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from reasoning_distill.demo.config import load_addition
from reasoning_distill.markdown import md_code_span, md_text

logger = logging.getLogger(__name__)

HOW = "python benchmarks/verification_sweep.py --demo OUT"
FOLDER = "verification_sweep"
PLOT = "verification_sweep.png"


def sweep_file(out: Path) -> Path:
    return Path(out) / FOLDER / "sweep.json"


def wrong_share(verdicts: Any) -> dict[str, Any]:
    """The share of traces that failed verification: all, and per kind ({kind: share})."""
    total: dict[str, list[int]] = {}
    for kind, correct in verdicts:
        for k in ("all", kind):
            t = total.setdefault(k, [0, 0])
            t[0] += 1
            t[1] += int(not correct)
    return {
        k: {"traces": n, "wrong": w, "share": w / n if n else None} for k, (n, w) in total.items()
    }


def mixed_rows(kinds: list[str], correct: list[bool], share: float, seed: int = 0) -> list[int]:
    """Row indices (in the pool's order) of a dataset whose traces are `share` wrong in each
    kind: per kind, the most rows the pool allows at that share, so every trace of one side
    (right or wrong) and a seeded random sample of the other. The verified dataset of that
    point is its right traces: what verification keeps of it."""
    import random

    if not 0 <= share < 1:
        raise ValueError(f"a wrong share must lie in [0, 1), got {share}")
    rng = random.Random(seed)
    chosen: list[int] = []
    for kind in sorted(set(kinds)):
        right = [i for i, (k, c) in enumerate(zip(kinds, correct, strict=True)) if k == kind and c]
        wrong = [
            i for i, (k, c) in enumerate(zip(kinds, correct, strict=True)) if k == kind and not c
        ]
        if not right:
            continue
        target = round(len(right) * share / (1 - share))  # wrong traces beside every right one
        if target <= len(wrong):
            n_right, n_wrong = len(right), target
        else:  # too few wrong traces: all of them, and fewer right ones
            n_right = min(len(right), round(len(wrong) * (1 - share) / share))
            n_wrong = len(wrong)
        chosen += rng.sample(right, n_right) + rng.sample(wrong, n_wrong)
    return sorted(chosen)


def load_sweep(out: Path, config_key: str) -> dict[str, Any] | None:
    """The sweep measured on this demo run, or None (absent, unreadable or another run's)."""
    return load_addition(sweep_file(out), config_key)


def _answer(d: dict[str, Any]) -> str:
    lo, hi = d["ci95"]
    if len(d["per_seed"]) < 2:
        return "one seed: not settled"
    if lo > 0:
        return "verification helps"
    if hi < 0:
        return "verification hurts"
    return "not decided"


def _traces_label(point: dict[str, Any]) -> str:
    """How a point's traces were made: the teacher at a temperature, or the demo's own traces
    mixed to a wrong share."""
    if point.get("mix") is not None:
        return f"the demo's, mixed to {point['mix']:g} wrong"
    return f"T={point['temperature']:g}{' (the demo)' if point.get('demo') else ''}"


def sweep_table(sweep: dict[str, Any]) -> list[str]:
    """Markdown table lines: per point and benchmark, the wrong share of the unverified data,
    both arms pooled, the paired difference with its interval and per seed, the answer."""
    lines = [
        "| traces | wrong share (math, all) | benchmark | verified | unverified | "
        "verified - unverified [95% CI] | per seed | answer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in sorted(sweep["points"], key=lambda p: p["wrong"]["all"]["share"]):
        share = f"{p['wrong'].get('math', p['wrong']['all'])['share']:.2f}, {p['wrong']['all']['share']:.2f}"
        for bench, d in p["benchmarks"].items():
            lo, hi = d["ci95"]
            per = ", ".join(f"{x:+.3f}" for x in d["per_seed"])
            lines.append(
                f"| {_traces_label(p)} | {share} | "
                f"{md_text(bench)} | {d['verified']:.3f} | {d['unverified']:.3f} | "
                f"{d['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] | {per} | {_answer(d)} |"
            )
    return lines


def section(sweep: dict[str, Any] | None) -> dict[str, str]:
    """The report section (title and markdown) from the saved sweep."""
    title = "When does verification pay?"
    if sweep is None:
        text = (
            "How verified minus unverified changes with the share of wrong traces has not been "
            f"measured on this run: `{HOW}` measures it at other wrong shares and adds it here.\n"
        )
        return {"title": title, "markdown": text}
    s = sweep["settings"]
    lines = [
        f"{md_code_span(sweep['command'], in_table=False)}: at each point the training traces "
        "are the demo's own mixed to a share of wrong ones (every right trace and a seeded "
        "sample of the wrong ones, per kind), or the demo's teacher sampled them at another "
        "temperature; `unverified` (every trace of the point) and `verified` (its traces that "
        f"passed) trained with the demo's recipe over {md_text(s['seeds'])} "
        f"seed{'s' if s['seeds'] != 1 else ''} each, the difference paired within each seed and pooled "
        f"({md_text(sweep['ci_method'])}).",
        "",
        *sweep_table(sweep),
        "",
        f"![verified minus unverified against the wrong share]({PLOT})",
    ]
    return {"title": title, "markdown": "\n".join(lines) + "\n"}


def plot_sweep(sweep: dict[str, Any], path: Path) -> Path:
    """verified - unverified (pooled, 95% interval) against the wrong share, per benchmark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reasoning_distill.atomic import renamed_into_place

    fig, ax = plt.subplots(figsize=(6, 4))
    points = sorted(sweep["points"], key=lambda p: p["wrong"]["all"]["share"])
    benches = sorted({b for p in points for b in p["benchmarks"]})
    for bench in benches:
        xs, ys, lo, hi = [], [], [], []
        for p in points:
            d = p["benchmarks"].get(bench)
            if d is None:
                continue
            kind = "math" if "math" in bench else "code"
            xs.append(p["wrong"].get(kind, p["wrong"]["all"])["share"])
            ys.append(d["diff"])
            lo.append(d["diff"] - d["ci95"][0])
            hi.append(d["ci95"][1] - d["diff"])
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=4, label=bench)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("share of wrong traces in the unverified data")
    ax.set_ylabel("pass@1: verified - unverified")
    ax.set_title("When does verification pay? (95% CI, seeds pooled)")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    with renamed_into_place(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def add_to_demo_report(out: Path) -> Path:
    """Re-render OUT's report with the sweep's section and plot (after the sweep script)."""
    from reasoning_distill.eval.gap_report import write_report

    out = Path(out)
    report = json.loads((out / "report.json").read_text())
    key = json.loads((out / "run.json").read_text())["config_key"]
    sweep = load_sweep(out, key)
    if sweep is not None:
        plot_sweep(sweep, out / PLOT)
    report.setdefault("sections", {})["verification_sweep"] = section(sweep)
    return write_report(report, out, title=report.get("title", "Teacher-gap report"))["md"]
