"""What a generation job did and what its folder holds: counts and length statistics."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reasoning_distill.generation.store import Store
from reasoning_distill.records import Problem


@dataclass
class GenerationSummary:
    """What a job did and what the folder now holds.

    `samples` .. `p95_completion_tokens` describe every sample of the requested problems in the
    folder (including those from earlier runs); `generated_now`, `elapsed_s` and
    `tokens_per_s` describe this run only.
    """

    out_dir: str
    expected: int
    samples: int
    generated_now: int
    already_done: int
    truncated: int
    truncated_share: float
    mean_completion_tokens: float
    p95_completion_tokens: float
    completion_tokens_now: int
    elapsed_s: float
    tokens_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of_run(
        cls,
        out_dir: str | Path,
        expected: int,
        todo: int,
        written: int,
        tokens: int,
        elapsed: float,
        stats: dict[str, Any],
    ) -> GenerationSummary:
        """The summary of one run, from its counters and `summarize_store`'s folder stats."""
        return cls(
            out_dir=str(out_dir),
            expected=expected,
            samples=stats["samples"],
            generated_now=written,
            already_done=expected - todo,
            truncated=stats["truncated"],
            truncated_share=stats["truncated_share"],
            mean_completion_tokens=stats["mean_completion_tokens"],
            p95_completion_tokens=stats["p95_completion_tokens"],
            completion_tokens_now=tokens,
            elapsed_s=elapsed,
            tokens_per_s=tokens / elapsed if elapsed > 0 else 0.0,
        )


def summarize_lengths(lengths: list[int], truncated: int) -> dict[str, float]:
    """Truncated share, mean and p95 (nearest rank) of completion lengths."""
    n = len(lengths)
    if n == 0:
        return {"truncated_share": 0.0, "mean_completion_tokens": 0.0, "p95_completion_tokens": 0.0}
    srt = sorted(lengths)
    p95 = srt[max(0, math.ceil(0.95 * n) - 1)]
    return {
        "truncated_share": truncated / n,
        "mean_completion_tokens": sum(lengths) / n,
        "p95_completion_tokens": float(p95),
    }


def summarize_store(
    store: Store, problems: dict[str, Problem] | None = None, n: int | None = None
) -> dict[str, Any]:
    """Counts and length statistics over the stored samples (of `problems`, if given)."""
    lengths: list[int] = []
    truncated = 0
    for s in store.read():
        if problems is not None and (
            s.problem_id not in problems or (n is not None and s.sample_index >= n)
        ):
            continue
        lengths.append(s.completion_tokens)
        truncated += s.finish_reason == "length"
    return {
        "samples": len(lengths),
        "truncated": truncated,
        **summarize_lengths(lengths, truncated),
    }
