"""Verifiers: decide whether a completion is right, and why. Usable alone, never imports torch.

Every verifier returns a `Verdict` (never raises on model output): `verify_math` /
`verify_math_batch` for final answers, `verify_code` / `verify_code_batch` for programs run
in the sandbox (`run_python`), `check_format` for the shape of a completion, and `all_of` to
compose them over one row.
"""

from reasoning_distill.verifiers.math_answer import verify_math, verify_math_batch
from reasoning_distill.verifiers.math_extract import extract_answer, extract_gold
from reasoning_distill.verifiers.verdict import Verdict, all_of

__all__ = [
    "Verdict",
    "all_of",
    "extract_answer",
    "extract_gold",
    "verify_math",
    "verify_math_batch",
]
