"""The teacher-gap plot: pass@1 with its interval per model, one panel per benchmark.

matplotlib is imported inside the function with the Agg backend, so importing this module
costs nothing and it works on a machine without a display.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from reasoning_distill.atomic import renamed_into_place

logger = logging.getLogger(__name__)


def plot_gap(report: dict[str, Any], path: Path, title: str = "Teacher gap") -> Path:
    """Draw bars of pass@1 with interval error bars per model, per benchmark; save as PNG.

    A dashed line marks the teacher's pass@1 in each panel (when the report names a teacher
    present on that benchmark). Written to a temporary file in the same folder and renamed,
    so an existing plot is never left half-written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benchmarks: dict[str, dict[str, Any]] = report.get("benchmarks", {})
    teacher = report.get("teacher", "teacher")
    n = max(1, len(benchmarks))
    fig, axes = plt.subplots(1, n, figsize=(max(4.5, 1.0 + 0.9 * _max_models(benchmarks)) * n, 4))
    axes = [axes] if n == 1 else list(axes)
    try:
        for ax, (bench, models) in zip(axes, benchmarks.items(), strict=False):
            names = list(models)
            vals = [models[m]["pass@1"] for m in names]
            lows = [models[m]["pass@1"] - models[m]["ci95"][0] for m in names]
            highs = [models[m]["ci95"][1] - models[m]["pass@1"] for m in names]
            colors = ["tab:gray" if m == teacher else "tab:blue" for m in names]
            ax.bar(range(len(names)), vals, yerr=[lows, highs], capsize=4, color=colors)
            if teacher in models:
                ax.axhline(models[teacher]["pass@1"], ls="--", color="black", lw=1, label=teacher)
                ax.legend(loc="upper right", fontsize=8)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("pass@1 (95% interval)")
            ax.set_title(bench)
        if not benchmarks:
            axes[0].text(0.5, 0.5, "no results", ha="center", va="center")
        fig.suptitle(title)
        fig.tight_layout()
        path = Path(path)
        with renamed_into_place(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)
    logger.debug("wrote %s", path)
    return path


def _max_models(benchmarks: dict[str, dict[str, Any]]) -> int:
    return max((len(m) for m in benchmarks.values()), default=1)


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def scatter_plot_png(gap: dict[str, Any], bench: str) -> bytes:
    """Student against teacher per-problem pass rate on one benchmark (one colour per student)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    try:
        for student, g in gap["benchmarks"][bench].items():
            t = [p["teacher"] for p in g["problems"]]
            s = [p["student"] for p in g["problems"]]
            # Pass rates take few values (k/n): translucent points show where many coincide.
            ax.scatter(t, s, s=14, alpha=0.6, label=student)
        ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1)
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel(f"teacher ({gap['teacher']}) per-problem pass rate")
        ax.set_ylabel("student per-problem pass rate")
        ax.set_title(bench)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        return _png(fig)
    finally:
        plt.close(fig)


def recovery_plot_png(gap: dict[str, Any]) -> bytes:
    """Recovery per benchmark and student with its 95% interval (a line at 1 = the teacher)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values, lows, highs = [], [], [], []
    for bench, per in gap["benchmarks"].items():
        for student, g in per.items():
            r = g["recovery"]
            if r is None:  # teacher pass@1 of 0: no ratio to draw
                labels.append(f"{bench}\n{student}\n(n/a)")
                values.append(0.0)
                lows.append(0.0)
                highs.append(0.0)
                continue
            ci = g["recovery_ci95"] or [r, r]
            labels.append(f"{bench}\n{student}")
            values.append(r)
            lo = ci[0] if ci[0] is not None else 0.0
            hi = ci[1] if ci[1] is not None else max(2.0, r)  # unbounded above: draw to 2
            lows.append(max(0.0, r - lo))
            highs.append(max(0.0, hi - r))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(labels) + 1.5), 4))
    try:
        ax.bar(range(len(labels)), values, yerr=[lows, highs], capsize=4, color="tab:blue")
        ax.axhline(1.0, ls="--", color="black", lw=1)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("recovery = student / teacher pass@1")
        ax.set_title("Recovery per benchmark (95% intervals)")
        fig.tight_layout()
        return _png(fig)
    finally:
        plt.close(fig)
