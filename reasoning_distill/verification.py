"""Verify generated samples: the format check first, then the answer (math) or the tests (code).

This joins the generation records to the verifiers room: math samples go through
`verify_math_batch`, code samples through `verify_code_batch` (sandboxed), each in one batch,
and every sample gets exactly one `Verdict` with a reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from reasoning_distill.progress import Progress
from reasoning_distill.records import Sample

logger = logging.getLogger(__name__)


def verify_samples(
    samples: Sequence[Sample],
    golds: Sequence[Any] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
):
    """One `Verdict` per sample, in order.

    `golds` defaults to each sample's own `gold`; a sample's `kind` ("math" or "code") picks
    the verifier. A sample fails the format check (unclosed think block, truncated) before its
    answer is looked at.
    """
    from reasoning_distill.verifiers import (
        Verdict,
        all_of,
        check_format,
        verify_code_batch,
        verify_math_batch,
    )

    golds = list(golds) if golds is not None else [s.gold for s in samples]
    if len(golds) != len(samples):
        raise ValueError(f"{len(samples)} samples but {len(golds)} golds")
    verdicts: list[Verdict | None] = [None] * len(samples)
    by_kind: dict[str, list[int]] = {"math": [], "code": []}
    for i, s in enumerate(samples):
        if s.kind not in by_kind:
            raise ValueError(
                f"sample {s.problem_id}#{s.sample_index}: kind must be 'math' or 'code', "
                f"got {s.kind!r}"
            )
        by_kind[s.kind].append(i)
    answer: dict[int, Verdict] = {}
    if by_kind["math"]:
        idx = by_kind["math"]
        out = verify_math_batch(
            [samples[i].completion for i in idx],
            [str(golds[i]) for i in idx],
            workers=workers,
            progress=progress or False,
        )
        answer.update(zip(idx, out, strict=True))
    if by_kind["code"]:
        idx = by_kind["code"]
        out = verify_code_batch(
            [samples[i].answer or samples[i].completion for i in idx],
            [golds[i] for i in idx],
            workers=workers,
            progress=progress or False,
        )
        answer.update(zip(idx, out, strict=True))
    for i, s in enumerate(samples):
        verdicts[i] = all_of([check_format(s.completion, s.finish_reason), answer[i]])
    return verdicts


def yield_by_reason(verdicts: Sequence[Any]) -> dict[str, Any]:
    """Kept / generated and the count of every rejection reason."""
    reasons = Counter(v.reason for v in verdicts)
    kept = reasons.get("ok", 0)
    return {
        "generated": len(verdicts),
        "kept": kept,
        "yield": kept / len(verdicts) if verdicts else 0.0,
        "by_reason": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
    }
