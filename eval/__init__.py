"""Benchmarks, metrics, the protocol manifest and the teacher-gap report.

Light to import: numpy and the project's records. matplotlib and `datasets` are imported
inside the functions that need them.
"""

from reasoning_distill.eval.benchmarks import (
    Benchmark,
    BenchmarkUnavailable,
    get_benchmark,
    list_benchmarks,
    load_benchmark,
)
from reasoning_distill.eval.gap_report import build_gap_report, render_markdown, write_report
from reasoning_distill.eval.metrics import (
    Difference,
    Recovery,
    Score,
    difference,
    pass_at_k,
    recovery,
    score,
)

__all__ = [
    "Benchmark",
    "BenchmarkUnavailable",
    "Difference",
    "Recovery",
    "Score",
    "build_gap_report",
    "difference",
    "get_benchmark",
    "list_benchmarks",
    "load_benchmark",
    "pass_at_k",
    "recovery",
    "render_markdown",
    "score",
    "write_report",
]
