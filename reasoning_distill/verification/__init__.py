"""Verification: the runner that verifies samples by kind, the verdict record and its keyed
store, and `verify_into`, the one resumable loop that `rdistill verify`, the recipe build and
the eval write verdicts through. The checkers themselves live in `reasoning_distill.verifiers`.
"""

from reasoning_distill.verification.runner import (
    StoreSurvey,
    Verified,
    VerifyOptions,
    VerifyRun,
    item_of,
    iter_store,
    iter_verdicts,
    read_store,
    survey_store,
    verify_into,
    verify_samples,
    verify_store,
    yield_by_reason,
)
from reasoning_distill.verification.verdicts import (
    VerdictRecord,
    VerdictStore,
    read_verdicts,
)

__all__ = [
    "StoreSurvey",
    "VerdictRecord",
    "VerdictStore",
    "Verified",
    "VerifyOptions",
    "VerifyRun",
    "item_of",
    "iter_store",
    "iter_verdicts",
    "read_store",
    "read_verdicts",
    "survey_store",
    "verify_into",
    "verify_samples",
    "verify_store",
    "yield_by_reason",
]
