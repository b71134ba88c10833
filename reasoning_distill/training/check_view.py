"""The pre-flight report as a person reads it: one sample with its trained tokens marked.

Renderables only (rich), printed by the entry points (`train check`, `train sft`) on rank 0.
"""

from __future__ import annotations

from reasoning_distill.training.check import CheckReport, SampleView

STYLES = {
    "prompt": "grey50",
    "other": "yellow",
    "think": "cyan",
    "answer": "green",
    "eos": "bold magenta",
}


def render_sample(view: SampleView, max_tokens: int = 600):
    """A rich `Text` of the sample: trained tokens underlined and coloured by part."""
    from rich.text import Text

    text = Text()
    n = len(view.pieces)
    keep = (
        set(range(n))
        if n <= max_tokens
        else set(range(max_tokens * 2 // 3)) | set(range(n - max_tokens // 3, n))
    )
    skipped = False
    for i, (piece, trained, kind) in enumerate(
        zip(view.pieces, view.trained, view.kinds, strict=True)
    ):
        if i not in keep:
            if not skipped:
                text.append(f" [... {n - len(keep)} tokens ...] ", style="italic grey50")
                skipped = True
            continue
        style = STYLES[kind] + (" underline" if trained else " dim")
        if kind == "eos" and not piece.strip():
            piece = "<EOS>"
        text.append(piece, style=style)
    return text


def render_report(report: CheckReport):
    """A rich renderable of the whole report (the sample, the counts, notes and problems)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    parts = []
    if report.sample is not None:
        c = report.sample.counts
        title = (
            f"row {report.sample.row}: {c['tokens']} tokens, {c['total_trained']} trained "
            f"(think {c['think']}, answer {c['answer']}, EOS {c['eos']})"
        )
        legend = Text("underlined = trained;  ", style="italic")
        for kind in ("prompt", "other", "think", "answer", "eos"):
            legend.append(kind + " ", style=STYLES[kind])
        parts.append(Panel(Group(render_sample(report.sample), legend), title=title))
    for note in report.notes:
        parts.append(Text("note: " + note, style="cyan"))
    for problem in report.problems:
        parts.append(Text("problem: " + problem, style="bold red"))
    verdict = "ready" if report.ok else f"{len(report.problems)} problem(s): not ready"
    parts.append(Text(verdict, style="bold green" if report.ok else "bold red"))
    return Group(*parts)
