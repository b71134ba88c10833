"""The teacher-gap plot: pass@1 with its interval per model, one panel per benchmark.

matplotlib is imported inside the function with the Agg backend, so importing this module
costs nothing and it works on a machine without a display.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


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
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            fig.savefig(tmp, format="png", dpi=110)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        plt.close(fig)
    log.debug("wrote %s", path)
    return path


def _max_models(benchmarks: dict[str, dict[str, Any]]) -> int:
    return max((len(m) for m in benchmarks.values()), default=1)
