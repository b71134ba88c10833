"""Verifiers: decide whether a completion is right, and why. Usable alone, never imports torch.

Every verifier returns a `Verdict` (never raises on model output): `verify_math` /
`verify_math_batch` for final answers, `verify_code` / `verify_code_batch` for programs run
in the sandbox (`run_python`), `check_format` for the shape of a completion, and `all_of` to
compose them over one row.
"""

from reasoning_distill.verifiers.code import verify_code, verify_code_batch
from reasoning_distill.verifiers.code_extract import extract_program
from reasoning_distill.verifiers.format import check_format
from reasoning_distill.verifiers.math_answer import (
    close_math_workers,
    verify_math,
    verify_math_batch,
)
from reasoning_distill.verifiers.math_extract import extract_answer, extract_gold
from reasoning_distill.verifiers.sandbox import (
    ExecResult,
    close_sandboxes,
    run_python,
    sandbox_info,
)
from reasoning_distill.verifiers.stdio_compare import compare_stdio
from reasoning_distill.verifiers.verdict import Verdict, all_of

__all__ = [
    "ExecResult",
    "Verdict",
    "all_of",
    "check_format",
    "close_math_workers",
    "close_sandboxes",
    "compare_stdio",
    "extract_answer",
    "extract_gold",
    "extract_program",
    "run_python",
    "sandbox_info",
    "verify_code",
    "verify_code_batch",
    "verify_math",
    "verify_math_batch",
]
