"""The demo report's answer to "does the white-box stage help?".

Two sources, both paired per-problem differences under the demo's protocol:
- the demo's own arms: `verified_rkl` (the reverse-KL stage on top of `verified`) against
  `verified_sft_eq` (SFT on top of `verified` for the same training FLOPs), paired within
  each of the demo's training seeds and pooled;
- when `benchmarks/kd_helps.py --demo OUT` has run on this demo folder, its multi-seed answer
  in off-policy and on-policy modes (OUT/kd_helps/kd_helps.json), which the report quotes as
  written. A rerun of the demo keeps it, as long as the demo's settings are unchanged.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from reasoning_distill.demo.config import load_addition
from reasoning_distill.markdown import md_code_span, md_text

logger = logging.getLogger(__name__)

HOW = "python benchmarks/kd_helps.py --demo OUT"
ARM, CONTROL = "verified_rkl", "verified_sft_eq"


def load_multi_seed(out: Path, config_key: str) -> dict[str, Any] | None:
    """kd_helps' answer for this demo run, or None (absent, unreadable or another run's)."""
    return load_addition(Path(out) / "kd_helps" / "kd_helps.json", config_key)


def _fmt(d: dict[str, Any]) -> str:
    return f"{d['diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"


def multi_seed_table(multi_seed: dict[str, Any]) -> list[str]:
    """kd_helps' answer as markdown table lines: per benchmark and mode, the pooled paired
    difference, the per-seed differences and the verdict."""
    lines = ["| benchmark, mode | diff [95% CI] | per seed | answer |", "|---|---|---|---|"]
    for name, d in multi_seed["answer"]["differences"].items():
        seeds = ", ".join(f"{x:+.3f}" for x in d["per_seed"])
        flag = " (seeds disagree)" if d.get("seeds_disagree") else ""
        bench, answer = md_text(name.split(":")[0]), md_text(d["answer"])
        lines.append(f"| {bench} | {_fmt(d)} | {seeds} | {answer}{flag} |")
    return lines


def _seeds_text(report: dict[str, Any]) -> str:
    pairs = next(iter(report.get("comparisons", {}).values()), {})
    n = len(pairs.get(f"{ARM} vs {CONTROL}", {}).get("per_seed") or [None])
    return "one seed (seed variance not measured)" if n == 1 else f"{n} seeds pooled"


def section(report: dict[str, Any], multi_seed: dict[str, Any] | None) -> dict[str, str]:
    """The report section (title and markdown) from the demo's comparisons and kd_helps."""
    lines = []
    key = f"{ARM} vs {CONTROL}"
    rows = [
        f"| {md_text(bench)} | {_fmt(pairs[key])} | {'yes' if pairs[key]['separated'] else 'no'} |"
        for bench, pairs in report.get("comparisons", {}).items()
        if key in pairs and "diff" in pairs[key]
    ]
    if rows:
        lines += [
            f"This run, {_seeds_text(report)}: `{ARM}` minus `{CONTROL}` (SFT from the same "
            "checkpoint with the same training FLOPs), paired within each seed:",
            "",
            "| benchmark | diff [95% CI] | beyond the interval |",
            "|---|---|---|",
            *rows,
            "",
        ]
    if multi_seed is None:
        lines.append(
            f"The multi-seed answer, off- and on-policy, has not been measured on this run: "
            f"`{HOW}` measures it and adds it here."
        )
    else:
        s = multi_seed["settings"]
        heldout = ", ".join(f"{md_text(bench)} {md_text(n)}" for bench, n in s["heldout"].items())
        lines += [
            f"{md_code_span(multi_seed['command'], in_table=False)}: {md_text(s['seeds'])} seeds, "
            f"{md_text(s['rkl_steps'])} reverse-KL steps "
            f"against SFT of the same FLOPs, held-out problems {heldout}, {md_text(s['eval_n'])} samples "
            "each:",
            "",
            *multi_seed_table(multi_seed),
        ]
        answers = {d["answer"] for d in multi_seed["answer"]["differences"].values()}
        if len(answers) == 1:
            lines += ["", f"Every benchmark and mode: **{md_text(answers.pop())}**."]
    return {"title": "Does the white-box stage help?", "markdown": "\n".join(lines) + "\n"}


def add_to_demo_report(out: Path) -> Path:
    """Re-render OUT's report with kd_helps' answer (after `benchmarks/kd_helps.py`)."""
    from reasoning_distill.eval.gap_report import write_report

    out = Path(out)
    report = json.loads((out / "report.json").read_text())
    key = json.loads((out / "run.json").read_text())["config_key"]
    report.setdefault("sections", {})["white_box"] = section(report, load_multi_seed(out, key))
    return write_report(report, out, title=report.get("title", "Teacher-gap report"))["md"]
