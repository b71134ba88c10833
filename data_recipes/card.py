"""The dataset card (`README.md`): Hub front matter, then everything a user needs to trust it.

Front matter: `size_categories`, `task_categories`, `tags` and `configs` (pointing the Hub's
viewer at the Parquet shards). Body: the recipe, counts at every stage, the pass rate per
source, rejection reasons, a trace-length histogram (a text table here, a PNG beside it),
decontamination hits per benchmark with examples, the selection policy and the software
versions.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

from reasoning_distill.markdown import md_code, md_code_span, md_text
from reasoning_distill.redact import redact_urls

HISTOGRAM_PNG = "trace_lengths.png"
_PACKAGES = ("reasoning-distill", "datasets", "transformers", "trl", "torch", "vllm", "math-verify")


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    if n < 1_000_000:
        return "100K<n<1M"
    return "1M<n<10M" if n < 10_000_000 else "n>10M"


def software_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def histogram(lengths: Sequence[int], bins: int = 10) -> list[tuple[int, int, int]]:
    """(low, high, count) bins of equal width covering `lengths`."""
    if not lengths:
        return []
    lo, hi = min(lengths), max(lengths)
    width = max(1, -(-(hi - lo + 1) // bins))
    counts = [0] * bins
    for x in lengths:
        counts[min(bins - 1, (x - lo) // width)] += 1
    return [(lo + i * width, lo + (i + 1) * width - 1, c) for i, c in enumerate(counts) if c]


def histogram_png(lengths: Sequence[int]) -> bytes | None:
    """The trace-length histogram as PNG bytes (None without lengths)."""
    if not lengths:
        return None
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2), dpi=100)
    ax = fig.subplots()
    ax.hist(list(lengths), bins=min(30, max(1, len(set(lengths)))), color="#4c72b0")
    ax.set_xlabel("completion tokens per kept trace")
    ax.set_ylabel("traces")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Every cell is data (source names, reasons, versions): plain text, one line each."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(md_text(c) for c in r) + " |" for r in rows]
    return out + [""]


def render_card(info: Mapping[str, Any], n_rows: int, parquet: bool = False) -> str:
    """The card text. `info` keys (all optional but `title`): description, recipe (YAML
    text), stages {name: count}, pass_rate {source: {generated, verified}}, rejected
    {reason: n}, lengths [tokens], contamination {benchmark: {count, examples}}, selection
    {...}, anything else under `provenance`."""
    front = [
        "---",
        f"size_categories: [{size_category(n_rows)}]",
        "task_categories: [text-generation]",
        "tags: [reasoning, distillation, reasoning-distill]",
    ]
    if parquet:
        front += [
            "configs:",
            "- config_name: default",
            "  data_files:",
            "  - split: train",
            "    path: data/train-*.parquet",
        ]
    front.append("---")
    body = [f"# {md_text(info.get('title', 'reasoning-distill dataset'))}", ""]
    if info.get("description"):
        body += [str(info["description"]), ""]
    off = info.get("off_format") or {}
    no_think = (off.get("without_think") or {}).get("count", 0)
    truncated = (off.get("truncated") or {}).get("count", 0)
    turn = (
        "`<think>reasoning</think>` and the answer"
        if not no_think
        else f"`<think>reasoning</think>` and the answer, except {no_think} rows without a "
        "think block (see below)"
    )
    body += [
        f"Rows: {n_rows}. Format: `messages` (every prompt turn, system included, then the "
        f"assistant turn: {turn}), readable as is by TRL's `SFTTrainer`; metadata columns "
        "name the source, problem, sample, verdict, finish reason and teacher.",
        "",
    ]
    if no_think or truncated:
        body += ["## Rows outside the format", ""]
        for what, d, why in (
            ("without a think block", off.get("without_think") or {}, "the completion "
             "never opened one (the format check was off): the row is the bare completion"),
            ("truncated", off.get("truncated") or {}, "`finish_reason` is `length`: the "
             "trace was cut by the token limit; train it without an end-of-turn token"),
        ):  # fmt: skip
            if d.get("count"):
                named = ", ".join(md_text(x) for x in d.get("examples", []))
                more = " ..." if d["count"] > len(d.get("examples", [])) else ""
                body += [f"- **{d['count']} rows {what}**: {why}. Rows: {named}{more}"]
        body.append("")
    if info.get("stages"):
        body += ["## Counts at every stage", ""]
        body += _table(["stage", "count"], list(info["stages"].items()))
    if info.get("pass_rate"):
        body += ["## Pass rate per source", ""]
        rows = [
            (src, d["generated"], d["verified"], f"{d['verified'] / max(1, d['generated']):.1%}")
            for src, d in info["pass_rate"].items()
        ]
        body += _table(["source", "samples", "verified", "pass rate"], rows)
    if info.get("rejected"):
        body += ["## Rejection reasons (samples not kept)", ""]
        body += _table(
            ["reason", "samples"], sorted(info["rejected"].items(), key=lambda kv: -kv[1])
        )
    lengths = info.get("lengths") or []
    if lengths:
        body += [f"## Trace length (completion tokens; plot: `{HISTOGRAM_PNG}`)", ""]
        body += _table(["tokens", "traces"], [(f"{a}-{b}", c) for a, b, c in histogram(lengths)])
    if "contamination" in info:
        body += ["## Decontamination", ""]
        hits = info["contamination"]
        if info.get("benchmarks_checked"):
            checked = ", ".join(md_text(b) for b in info["benchmarks_checked"])
            body += [f"Checked against: {checked}.", ""]
        if not hits:
            body += ["No problem matched a benchmark.", ""]
        for bench, d in hits.items():
            body += [f"- **{md_text(bench)}**: {md_text(d['count'])} problems removed"]
            for ex in d.get("examples", [])[:3]:
                # A hit's text is a benchmark's or a source's problem: quoted, never rendered.
                quoted = md_code_span(repr(str(ex["text"])[:160]), in_table=False)
                kind = md_code_span(ex["kind"], in_table=False)
                body += [f"  - {kind} vs {md_text(ex['benchmark_id'])}: {quoted}"]
        body.append("")
    if info.get("selection"):
        body += ["## Selection policy", ""]
        body += [*md_code(json.dumps(info["selection"], indent=2), "json"), ""]
    if info.get("recipe"):
        # A recipe may name a server URL with credentials in it: they stay out of the card.
        body += ["## Recipe", "", *md_code(redact_urls(str(info["recipe"])), "yaml"), ""]
    rest = {
        k: v
        for k, v in info.items()
        if k
        not in (
            "title",
            "description",
            "stages",
            "pass_rate",
            "rejected",
            "lengths",
            "contamination",
            "benchmarks_checked",
            "selection",
            "recipe",
            "off_format",
        )
    }
    if rest:
        provenance = redact_urls(json.dumps(rest, indent=2, default=str))
        body += ["## Provenance", "", *md_code(provenance, "json"), ""]
    body += ["## Software", ""]
    body += _table(["package", "version"], list(software_versions().items()))
    return "\n".join(front + body)
