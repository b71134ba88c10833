"""What a recipe build will cost on this machine, for `--dry-run`: traces, disk and time.

Disk is sized from the sampling budget (`max_tokens` at about `BYTES_PER_TOKEN` bytes each,
an upper bound: most traces stop earlier). Time per stage comes from per-item rates measured
here and now on a few synthetic items (dedupe, serial math verification spread over the
verification workers, writing dataset rows), so it is an estimate: real traces, real
answers and a busy machine change it. Generation depends on the teacher and is not priced.
Nothing is written to disk.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

BYTES_PER_TOKEN = 4  # UTF-8 bytes per token of English and LaTeX text, roughly
ROW_OVERHEAD = 1_500  # prompt, metadata and JSON keys of one stored sample


def _rate(run: Callable[[int], None], n: int) -> float:
    """Items per second of `run(n)` (timed after one warm-up item)."""
    run(1)
    t0 = time.perf_counter()
    run(n)
    return n / max(time.perf_counter() - t0, 1e-6)


def _dedupe_rate(n: int = 2_000) -> float:
    from reasoning_distill.data_recipes.dedupe import dedupe

    texts = [f"Problem {i}: what is {i} plus {i * 7 % 13} times {i % 11}?" for i in range(n)]
    return _rate(lambda k: dedupe(texts[:k], exact=True, near=True), n)


def _verify_rate(n: int = 24) -> float:
    """Serial math-verify items per second (one worker)."""
    from math_verify import parse, verify

    def run(k: int) -> None:
        for i in range(k):
            verify(parse(f"{i}/7"), parse(f"... so the answer is $\\boxed{{\\frac{{{i}}}{{7}}}}$"))

    return _rate(run, n)


def _write_rate(trace_bytes: int, n: int = 48) -> float:
    """Dataset rows of `trace_bytes` encoded to Arrow and Parquet (in memory) per second."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from reasoning_distill.data_recipes.dataset import features

    feats = features()
    text = ("Let me think about this step by step. " * (trace_bytes // 38 + 1))[:trace_bytes]
    row = {
        "messages": [{"role": "user", "content": "Solve."}, {"role": "assistant", "content": text}],
        **dict.fromkeys(("source", "problem_id", "kind", "verdict", "verifier"), "x"),
        **dict.fromkeys(("teacher", "engine", "sampling", "finish_reason"), "x"),
        **dict.fromkeys(("sample_index", "prompt_tokens", "completion_tokens"), 1),
        "correct": True,
        "judged": False,
        "pass_rate": 0.5,
    }

    def run(k: int) -> None:
        batches = [
            pa.RecordBatch.from_pylist([feats.encode_example(row)], schema=feats.arrow_schema)
            for _ in range(k)
        ]
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_batches(batches), sink)

    # each row is written twice (staged, then in order) and read back once
    return _rate(run, n) / 3


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 5_400:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def estimate(
    problems: int,
    n: int,
    max_tokens: int,
    *,
    kinds: set[str],
    parquet: bool,
    workers: int | None = None,
) -> dict[str, Any]:
    """The cost of a build of `problems` problems with `n` traces of at most `max_tokens`."""
    traces = problems * n
    trace_bytes = max_tokens * BYTES_PER_TOKEN
    store = traces * (trace_bytes + ROW_OVERHEAD)
    workers = workers or max(1, (os.cpu_count() or 1) - 1)
    rates = {
        "dedupe": _dedupe_rate(),
        "verify_math": _verify_rate() * workers,
        "write": _write_rate(trace_bytes),
    }
    time_by_stage = {
        "problems (dedupe, decontaminate)": _duration(problems / rates["dedupe"]),
        "generate": "not estimated: depends on the teacher and its hardware",
        "verify": (
            _duration(traces / rates["verify_math"])
            + f" for math ({workers} workers; a hard answer can take its whole timeout)"
            if "math" in kinds
            else "not estimated for code: each trace runs its tests in the sandbox"
        ),
        "select and write": _duration(traces / rates["write"] + traces / 20_000)
        + " if every trace is kept",
    }
    return {
        "note": "an estimate, from per-item rates measured on this machine just now on "
        "synthetic items; disk assumes every trace runs to max_tokens (an upper bound)",
        "traces": traces,
        "disk (at most)": {
            "generation store": _size(store),
            "dataset": _size(store * (2 if parquet else 1)),
        },
        "time": time_by_stage,
        "measured rates (items/s)": {k: round(v, 1) for k, v in rates.items()},
    }
