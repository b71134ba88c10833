"""Grade one extracted answer against one gold answer with math-verify, in this process.

This is what a math worker process runs. It calls math-verify with its `signal.alarm`
timeouts on, which only works in a main thread: `grade_math` refuses to run elsewhere with
timeouts on. The pool (`math_answer.verify_math_batch`) also bounds every item from outside,
because math-verify can hang despite its own timeout.
"""

from __future__ import annotations

import logging
import re
import threading
from fractions import Fraction
from functools import lru_cache
from typing import Any

from reasoning_distill.verifiers.math_extract import extract_answer, extract_gold
from reasoning_distill.verifiers.verdict import (
    NO_ANSWER,
    TIMEOUT,
    UNPARSEABLE_ANSWER,
    UNPARSEABLE_GOLD,
    VERIFIER_ERROR,
    WRONG_ANSWER,
    Verdict,
)

logger = logging.getLogger(__name__)


_INT_RE = re.compile(r"^\s*\$?\s*([+-]?\d+)\s*\$?\s*$")
_FRAC_RE = re.compile(r"^\s*\$?\s*([+-]?)\\d?frac\{(\d+)\}\{(\d+)\}\s*\$?\s*$")


def _exact_number(text: str) -> tuple[Fraction, bool] | None:
    """(value, is_integer) for a plain integer or `\\frac{a}{b}`; None for anything else."""
    m = _INT_RE.match(text)
    if m:
        return Fraction(int(m.group(1))), True
    m = _FRAC_RE.match(text)
    if m and int(m.group(3)) != 0:
        value = Fraction(int(m.group(2)), int(m.group(3)))
        return (-value if m.group(1) == "-" else value), False
    return None


def _fast_verdict(answer: str, gold: str) -> bool | None:
    """Exact answer for the common easy case (integers, plain fractions), without sympy.

    Returns True (equal), False (two different integers: math-verify agrees) or None (let
    math-verify decide: it compares non-integers with a tolerance, so inequality is its call).
    """
    a, g = _exact_number(answer), _exact_number(gold)
    if a is None or g is None:
        return None
    if a[0] == g[0]:
        return True
    if a[1] and g[1]:
        return False
    return None


def _configs(latex_only: bool) -> list[Any]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    if latex_only:
        return [LatexExtractionConfig()]
    return [LatexExtractionConfig(), ExprExtractionConfig()]


def _has_math(parsed: list[Any]) -> bool:
    # math-verify returns [sympy_expr, source_str] or just [source_str] when only its string
    # fallback matched (e.g. `~2`); a bare string is not an answer we can compare.
    return any(not isinstance(p, str) for p in parsed)


def _parse(text: str, timeout: int | None) -> list[Any]:
    from math_verify import parse

    # `$...$` makes math-verify read the whole text as one LaTeX expression; the plain
    # expression grammar is the second chance for things like `1/2` or `3.5e2`.
    parsed = parse(f"${text}$", extraction_config=_configs(True), parsing_timeout=timeout)
    if not _has_math(parsed):
        parsed = parse(text, extraction_config=_configs(False), parsing_timeout=timeout)
    return parsed if _has_math(parsed) else []


@lru_cache(maxsize=4096)
def _parse_gold_cached(gold_text: str, timeout: int | None) -> tuple[Any, ...]:
    return tuple(_parse(gold_text, timeout))


def grade_math(
    completion: str,
    gold: str,
    include_think: bool = False,
    timeout_s: float | None = 5.0,
) -> Verdict:
    """Verdict for one completion against one gold answer (see `verify_math`)."""
    main = threading.current_thread() is threading.main_thread()
    mv_timeout = max(1, int(timeout_s)) if (timeout_s and main) else None
    if timeout_s and not main:
        raise RuntimeError(
            "grade_math with a timeout must run in a main thread (math-verify uses "
            "signal.alarm); use verify_math / verify_math_batch, which grade in workers"
        )
    from math_verify import verify
    from math_verify.errors import TimeoutException

    ex = extract_answer(completion, include_think=include_think)
    details: dict[str, Any] = {"method": ex.method}
    gold_text = extract_gold(gold)
    details["gold"] = gold_text
    try:
        gold_ok = _exact_number(gold_text) is not None
        if not gold_ok:
            gold_parsed = list(_parse_gold_cached(gold_text, mv_timeout)) if gold_text else []
            gold_ok = bool(gold_parsed)
        if not gold_ok:
            return Verdict.fail(UNPARSEABLE_GOLD, ex.text, **details)
        if ex.text is None:
            if ex.method == "unclosed_box":
                return Verdict.fail(UNPARSEABLE_ANSWER, None, **details)
            return Verdict.fail(NO_ANSWER, None, **details)
        fast = _fast_verdict(ex.text, gold_text)
        if fast is not None:
            return (Verdict.ok if fast else _wrong)(ex.text, **details)
        pred = _parse(ex.text, mv_timeout)
        if not pred:
            return Verdict.fail(UNPARSEABLE_ANSWER, ex.text, **details)
        gold_parsed = list(_parse_gold_cached(gold_text, mv_timeout))
        same = verify(gold_parsed, pred, timeout_seconds=mv_timeout)
    except TimeoutException:
        return Verdict.fail(TIMEOUT, ex.text, **details)
    except Exception as e:  # sympy can raise almost anything on odd input
        logger.debug("math grading failed on %r vs %r: %r", ex.text, gold_text, e)
        return Verdict.fail(VERIFIER_ERROR, ex.text, error=repr(e)[:500], **details)
    if same:
        return Verdict.ok(ex.text, **details)
    return Verdict.fail(WRONG_ANSWER, ex.text, **details)


def _wrong(extracted: str | None, **details: Any) -> Verdict:
    return Verdict.fail(WRONG_ANSWER, extracted, **details)


def grade_math_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker entry: a JSON-able dict in, a JSON-able verdict dict out."""
    return grade_math(
        payload["completion"],
        payload["gold"],
        include_think=payload.get("include_think", False),
        timeout_s=payload.get("timeout_s", 5.0),
    ).to_dict()
