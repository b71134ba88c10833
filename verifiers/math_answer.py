"""Math answer verification: `verify_math` and `verify_math_batch`.

Grading runs in warm worker processes (`pool.WorkerPool`): math-verify's own timeouts use
`signal.alarm`, which works only in a process's main thread, and math-verify can still hang,
so every item also has a deadline enforced from outside; a hung item kills and replaces its
worker and becomes a `timeout` verdict. No thread here ever calls `signal.alarm`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from reasoning_distill.verifiers.math_extract import UNBOXED_MODES
from reasoning_distill.verifiers.pool import close_shared_pool, shared_pool
from reasoning_distill.verifiers.progress_hook import progress_task
from reasoning_distill.verifiers.verdict import TIMEOUT, VERIFIER_ERROR, Verdict

_TARGET = "reasoning_distill.verifiers.math_grade:grade_math_payload"
# Past this the "answer" is a runaway generation, not something to hand to sympy.
MAX_ANSWER_CHARS = 20_000


def _payload(
    completion: Any, gold: Any, include_think: bool, timeout_s: float, unboxed: str
) -> dict:
    completion = "" if completion is None else str(completion)
    if len(completion) > 4 * MAX_ANSWER_CHARS:
        # only the tail can hold the final answer; keep the pipe traffic small
        from reasoning_distill.verifiers.math_extract import extract_answer

        ex = extract_answer(completion, include_think)
        if ex.method == "boxed":
            # the whole final group of boxes: a gold with several parts is graded on all
            completion = ", ".join(f"\\boxed{{{b}}}" for b in ex.boxes)
        else:
            completion = completion[-MAX_ANSWER_CHARS:]
    return {
        "completion": completion,
        "gold": "" if gold is None else str(gold),
        "include_think": include_think,
        "unboxed": unboxed,
        # math-verify's internal alarm fires first; the outside deadline is the backstop
        "timeout_s": max(1.0, timeout_s / 2),
    }


def verify_math_batch(
    completions: Sequence[str],
    golds: Sequence[str],
    workers: int | None = None,
    timeout_s: float = 10.0,
    progress: Any = False,
    include_think: bool = False,
    unboxed: str = "markers",
) -> list[Verdict]:
    """Verdicts for `completions[i]` against `golds[i]`, graded in `workers` warm processes.

    Each item may run `timeout_s` seconds before its worker is killed and the item becomes a
    `timeout` verdict. Never raises for bad model output. Workers stay warm for the next call.
    `unboxed="math_verify"` also reads completions with no box through math-verify's LaTeX
    and expression extraction (see `verify_math`).
    """
    if unboxed not in UNBOXED_MODES:
        raise ValueError(f"verify_math_batch: unboxed={unboxed!r}, expected one of {UNBOXED_MODES}")
    if len(completions) != len(golds):
        raise ValueError(
            f"verify_math_batch: {len(completions)} completions but {len(golds)} golds"
        )
    if not completions:
        return []
    n = workers or os.cpu_count() or 1
    n = max(1, min(n, len(completions)))
    payloads = [
        _payload(c, g, include_think, timeout_s, unboxed)
        for c, g in zip(completions, golds, strict=True)
    ]
    pool = shared_pool(_TARGET, n)

    def on_timeout(p: dict) -> dict:
        return Verdict.fail(TIMEOUT, None, timeout_s=timeout_s).to_dict()

    def on_crash(p: dict, err: str) -> dict:
        return Verdict.fail(VERIFIER_ERROR, None, error=err).to_dict()

    with progress_task(progress, "verify math", len(payloads)) as task:
        out = pool.map(
            payloads,
            deadline_s=timeout_s,
            on_timeout=on_timeout,
            on_crash=on_crash,
            on_result=lambda i, r: task.advance(1),
            workers=n,
        )
    return [Verdict.from_dict(d) for d in out]


def verify_math(
    completion: str,
    gold: str,
    timeout_s: float = 10.0,
    include_think: bool = False,
    workers: int | None = None,
    unboxed: str = "markers",
) -> Verdict:
    """Verdict for one completion against one gold answer (`17`, `\\frac{11}{12}`, a GSM8K
    `#### 72` solution, a MATH solution with `\\boxed{}`, `(2, 2), (6, 2)`...).

    The answer is the last `\\boxed{}` after the think block, else `####`, `The answer is`,
    `Final answer:` or a final `A: n` line; a boxed answer that does not parse is wrong
    (`unparseable_answer`), never replaced by a number elsewhere in the text. A gold with
    several parts is compared as a set with the final group of boxes (`\\boxed{1} and
    \\boxed{2}`) or the parts of one box (`\\boxed{1, 2}`); names count (`k = 45`).
    `unboxed="math_verify"` (opt-in; the default is "markers") reads a completion with no box
    through math-verify's LaTeX and expression extraction when no marker holds a bare answer
    (none, or one that caught a sentence); `unboxed="refuse"` counts a boxed answer only. `details["method"]` says which
    extraction found the answer: boxed, boxes, hash, phrase, a_line, math_verify_latex,
    math_verify_expr. Graded in the shared warm worker pool, safe from any thread.
    """
    return verify_math_batch(
        [completion],
        [gold],
        workers=workers,
        timeout_s=timeout_s,
        include_think=include_think,
        unboxed=unboxed,
    )[0]


def close_math_workers() -> None:
    """Stop the warm math workers (they also stop at exit); the next call starts new ones."""
    close_shared_pool(_TARGET)
