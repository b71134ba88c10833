"""The benchmark registry: the `Benchmark` record and the table that names each one.

Benchmark modules (`eval.benchmarks`, `eval.livecodebench`, `eval.toy_benchmarks`) build
their `Benchmark`s and `register` them here; this module imports none of them.
`eval.benchmarks` imports every benchmark module, so its `get_benchmark` and
`load_benchmark` see the whole table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reasoning_distill.errors import InputError
from reasoning_distill.records import Problem


class BenchmarkUnavailable(InputError, RuntimeError):
    """The benchmark could not be loaded from its public source (offline, gated, removed)."""


Row = dict[str, Any]


@dataclass(frozen=True)
class Benchmark:
    """One registered benchmark: where it comes from and how a row becomes a `Problem`."""

    name: str
    version: str
    kind: str  # "math" or "code"
    source: str  # Hugging Face dataset id
    hf_split: str
    size: int
    metric: str
    answer_format: str
    local_file: str  # file name of the local copy (as in ../shared/benchmarks)
    to_problem: Callable[[Benchmark, Row, int], Problem] = field(repr=False, compare=False)
    hf_config: str | None = None
    prompt_template: str = ""
    max_tokens: int = 32768
    # A benchmark whose rows do not come from one JSONL or one hub dataset (LiveCodeBench's
    # release files, the miniature world's generator): rows(benchmark, path or None).
    rows: Callable[[Benchmark, Path | None], Iterable[Row]] | None = field(
        default=None, repr=False, compare=False
    )
    dated: bool = False  # rows carry a contest_date, so a date window applies


REGISTRY: dict[str, Benchmark] = {}


def register(b: Benchmark) -> Benchmark:
    """Add `b` to the registry under its name (a name registered twice is a `ValueError`)."""
    if b.name in REGISTRY:
        raise ValueError(f"benchmark {b.name!r} registered twice")
    REGISTRY[b.name] = b
    return b
