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
from reasoning_distill.eval.evaluate import EvalProtocol, evaluate_model, evaluate_models
from reasoning_distill.eval.gap import ManifestMismatch, build_gap, write_gap
from reasoning_distill.eval.gap_report import build_gap_report, render_markdown, write_report
from reasoning_distill.eval.manifest import compare_manifests
from reasoning_distill.eval.metrics import (
    Difference,
    Recovery,
    Score,
    difference,
    pass_at_k,
    recovery,
    score,
)
from reasoning_distill.eval.results import load_results

__all__ = [
    "Benchmark",
    "BenchmarkUnavailable",
    "Difference",
    "EvalProtocol",
    "ManifestMismatch",
    "Recovery",
    "Score",
    "build_gap",
    "build_gap_report",
    "compare_manifests",
    "difference",
    "evaluate_model",
    "evaluate_models",
    "get_benchmark",
    "list_benchmarks",
    "load_benchmark",
    "load_results",
    "pass_at_k",
    "recovery",
    "render_markdown",
    "score",
    "write_gap",
    "write_report",
]
