"""The one record every verifier returns: was it right, and why.

Verifiers never raise on bad model output: a timeout, a crash or an unparseable answer is a
`Verdict` with a reason, so a batch of ten thousand rows always yields ten thousand verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

# Reasons a verdict can carry. `ok` is the only reason with correct=True.
OK = "ok"
WRONG_ANSWER = "wrong_answer"
NO_ANSWER = "no_answer"
UNPARSEABLE_ANSWER = "unparseable_answer"
UNPARSEABLE_GOLD = "unparseable_gold"
TIMEOUT = "timeout"
TRUNCATED = "truncated"
RUNTIME_ERROR = "runtime_error"
COMPILE_ERROR = "compile_error"
MEMORY_LIMIT = "memory_limit"
OUTPUT_LIMIT = "output_limit"
NO_CODE = "no_code"
UNCLOSED_THINK = "unclosed_think"
# A completion that never opened or closed a think block (a model that does not reason).
NO_THINK = "no_think"
MALFORMED_THINK = "malformed_think"
MULTIPLE_ANSWERS = "multiple_answers"
TOO_LONG = "too_long"
WRONG_LANGUAGE = "wrong_language"
BAD_TESTS = "bad_tests"
# A completion (or another input of the verifier) of the wrong type: never coerced to text.
BAD_INPUT = "bad_input"
VERIFIER_ERROR = "verifier_error"


@dataclass
class Verdict:
    """Whether a completion is right (`correct`), why (`reason`), what was compared
    (`extracted`), and anything else worth keeping for a person reading the row (`details`)."""

    correct: bool
    reason: str
    extracted: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.correct != (self.reason == OK):
            raise ValueError(
                f"Verdict: correct={self.correct} contradicts reason={self.reason!r} "
                "(only reason 'ok' is correct)"
            )

    @classmethod
    def ok(cls, extracted: str | None = None, **details: Any) -> Verdict:
        return cls(True, OK, extracted, details)

    @classmethod
    def fail(cls, reason: str, extracted: str | None = None, **details: Any) -> Verdict:
        return cls(False, reason, extracted, details)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        """The verdict a dict describes; `ValueError` naming the field when a value has the
        wrong type (a string "false" is not a boolean, so it is never coerced into one)."""
        if not isinstance(d, dict):
            raise ValueError(f"a verdict must be an object, got {type(d).__name__}")
        for name, types in (("correct", (bool,)), ("reason", (str,))):
            if name not in d:
                raise ValueError(f"verdict field {name!r} is missing")
            if not isinstance(d[name], types):
                raise ValueError(
                    f"verdict field {name!r} must be {types[0].__name__}, "
                    f"got {type(d[name]).__name__} {d[name]!r}"
                )
        extracted = d.get("extracted")
        if extracted is not None and not isinstance(extracted, str):
            raise ValueError(
                f"verdict field 'extracted' must be a string or null, got {extracted!r}"
            )
        details = d.get("details")
        if details is not None and not isinstance(details, dict):
            raise ValueError(f"verdict field 'details' must be an object, got {details!r}")
        return cls(d["correct"], d["reason"], extracted, dict(details or {}))


def all_of(verdicts: Iterable[Verdict]) -> Verdict:
    """Compose verifiers over one row: the row passes when every verdict does.

    The first failing verdict decides the reason (put the cheap, decisive checks such as the
    format first); the parts are kept in `details["parts"]` so nothing is lost.
    """
    parts = list(verdicts)
    if not parts:
        raise ValueError("all_of: needs at least one verdict")
    failed = next((v for v in parts if not v.correct), None)
    extracted = next((v.extracted for v in parts if v.extracted is not None), None)
    details = {"parts": [v.to_dict() for v in parts]}
    if failed is None:
        return Verdict(True, OK, extracted, details)
    return Verdict(False, failed.reason, failed.extracted, details)
