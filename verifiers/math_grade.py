"""Grade one extracted answer against one gold answer with math-verify, in this process.

This is what a math worker process runs. It calls math-verify with its `signal.alarm`
timeouts on, which only works in a main thread: `grade_math` refuses to run elsewhere with
timeouts on. The pool (`math_answer.verify_math_batch`) also bounds every item from outside,
because math-verify can hang despite its own timeout.

A gold answer with one part is compared with the last box alone (a completion that revises
`\\boxed{3}` to `\\boxed{4}` is graded on `4`). A gold answer with several parts (`1, 2`,
`(2, 2), (6, 2)`, `k = 45, n = 2`) is compared as a set with the parts of the completion's
final answer: the final group of boxes, or one box with several parts (`math_compare`). An
ordered tuple gold `(a, b)` also accepts `\\boxed{a}, \\boxed{b}`, in that order.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from reasoning_distill.verifiers.math_compare import (
    PartComparer,
    exact_number,
    fast_verdict,
    parse_answer,
    parse_gold_cached,
    same_answer,
)
from reasoning_distill.verifiers.math_extract import (
    Extraction,
    answer_region,
    extract_answer,
    extract_gold,
)
from reasoning_distill.verifiers.math_parts import (
    MAX_PARTS,
    is_tuple,
    name_value,
    split_parts,
    tuple_items,
)
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


_MARKERS = ("hash", "phrase", "a_line")
_TEXT_RE = re.compile(r"\\(?:text\w*|mbox|mathrm)\s*\{[^{}]*\}")
_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")


def _prose(text: str | None) -> bool:
    """Words around the answer (`The largest $n$ is 34`): a marker that caught a sentence."""
    return bool(text) and bool(_WORD_RE.search(_TEXT_RE.sub("", text or "")))


def _math_verify_extraction(region: str, timeout: int | None) -> Extraction:
    """math-verify's own answer extraction (LaTeX and plain expressions together, by its
    priorities); the method says which of the two the extracted text is."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    configs = [LatexExtractionConfig(), ExprExtractionConfig()]
    found = parse(region, extraction_config=configs, parsing_timeout=timeout)
    text = next((p for p in found if isinstance(p, str)), None)
    if not text or not any(not isinstance(p, str) for p in found):
        return Extraction("none", None)
    # which of the two found it: the LaTeX extraction alone finds the same text, or not
    latex = parse(region, extraction_config=configs[:1], parsing_timeout=timeout)
    latex_texts = [p for p in latex if isinstance(p, str)]
    method = "math_verify_latex" if text in latex_texts else "math_verify_expr"
    return Extraction(method, text.strip())


def grade_math(
    completion: str,
    gold: str,
    include_think: bool = False,
    timeout_s: float | None = 5.0,
    unboxed: str = "markers",
) -> Verdict:
    """Verdict for one completion against one gold answer (see `verify_math`)."""
    main = threading.current_thread() is threading.main_thread()
    mv_timeout = max(1, int(timeout_s)) if (timeout_s and main) else None
    if timeout_s and not main:
        raise RuntimeError(
            "grade_math with a timeout must run in a main thread (math-verify uses "
            "signal.alarm); use verify_math / verify_math_batch, which grade in workers"
        )
    from math_verify.errors import TimeoutException

    ex = extract_answer(completion, include_think=include_think)
    details: dict[str, Any] = {"method": ex.method}
    gold_text = extract_gold(gold)
    details["gold"] = gold_text
    try:
        cmp = PartComparer(mv_timeout)
        gold_parts = split_parts(gold_text) if gold_text else []
        multi = 1 < len(gold_parts) <= MAX_PARTS and all(cmp.gold_parses(p) for p in gold_parts)
        if not multi:
            gold_ok = exact_number(gold_text) is not None or bool(
                gold_text and parse_gold_cached(gold_text, mv_timeout)
            )
            if not gold_ok:
                return Verdict.fail(UNPARSEABLE_GOLD, ex.text, **details)
        if unboxed == "math_verify" and (
            ex.method == "none"
            or (ex.method in _MARKERS and (_prose(ex.text) or not cmp.parses(ex.text or "")))
        ):
            region = answer_region(completion, include_think) or ""
            found = _math_verify_extraction(region, mv_timeout)
            if found.text is not None or ex.method == "none":
                ex = found
                details["method"] = ex.method
        if unboxed == "refuse" and ex.text is not None and ex.method != "boxed":
            return Verdict.fail(NO_ANSWER, None, **details, unboxed="refuse")
        if ex.text is None:
            if ex.method == "unclosed_box":
                return Verdict.fail(UNPARSEABLE_ANSWER, None, **details)
            return Verdict.fail(NO_ANSWER, None, **details)
        if multi:
            return _grade_parts(ex, gold_text, gold_parts, cmp, details)
        if len(ex.boxes) > 1 and is_tuple(gold_text):
            items = tuple_items(gold_text)
            ordered = len(items) == len(ex.boxes) and all(cmp.gold_parses(i) for i in items)
            if ordered and cmp.same_sequence(items, list(ex.boxes)):
                return Verdict.ok(", ".join(ex.boxes), **{**details, "method": "boxes"})
            # otherwise the last box alone, as for any gold with one part
        fast = fast_verdict(ex.text, gold_text)
        if fast is not None:
            return _verdict(fast, ex.text, details)
        pred = parse_answer(ex.text, mv_timeout)
        if not pred:
            return Verdict.fail(UNPARSEABLE_ANSWER, ex.text, **details)
        same = same_answer(list(parse_gold_cached(gold_text, mv_timeout)), pred, mv_timeout)
    except TimeoutException:
        return Verdict.fail(TIMEOUT, ex.text, **details)
    except Exception as e:  # sympy can raise almost anything on odd input
        logger.debug("math grading failed on %r vs %r: %r", ex.text, gold_text, e)
        return Verdict.fail(VERIFIER_ERROR, ex.text, error=repr(e)[:500], **details)
    return _verdict(same, ex.text, details)


def _grade_parts(
    ex: Extraction, gold_text: str, gold_parts: list[str], cmp: PartComparer, details: dict
) -> Verdict:
    """A gold answer with several parts against the parts of the final answer."""
    pieces = list(ex.boxes) if ex.boxes else [ex.text or ""]
    if len(pieces) > 1:
        details["method"] = "boxes"
    extracted = ", ".join(pieces)
    pred_parts = [p for piece in pieces for p in split_parts(piece)]
    details["parts"] = [len(gold_parts), len(pred_parts)]
    if not pred_parts or not any(cmp.parses(p) for p in pred_parts[:MAX_PARTS]):
        return Verdict.fail(UNPARSEABLE_ANSWER, extracted, **details)
    # past MAX_PARTS only math-verify's reading of the whole answer below decides: a pair of
    # parts costs a math-verify call
    if len(pred_parts) <= MAX_PARTS and cmp.same_set(gold_parts, pred_parts):
        return Verdict.ok(extracted, **details)
    # math-verify's own reading of the whole answer (`x \in \{1, 2\}`, a union) when the
    # answer did not split into parts that all parse (then it would only repeat the set
    # comparison), and unless a part names a variable: math-verify would accept
    # `k = 2, n = 45` for `k = 45, n = 2`
    named = any(name_value(p)[0] is not None for p in gold_parts + pred_parts)
    listed = 1 < len(pred_parts) <= MAX_PARTS and all(cmp.parses(p) for p in pred_parts)
    if not named and not listed:
        gold_whole = list(parse_gold_cached(gold_text, cmp.timeout))
        pred_whole = parse_answer(extracted, cmp.timeout)
        if gold_whole and pred_whole and same_answer(gold_whole, pred_whole, cmp.timeout):
            return Verdict.ok(extracted, **details)
    return Verdict.fail(WRONG_ANSWER, extracted, **details)


def _verdict(same: bool, extracted: str | None, details: dict) -> Verdict:
    if same:
        return Verdict.ok(extracted, **details)
    return Verdict.fail(WRONG_ANSWER, extracted, **details)


def grade_math_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker entry: a JSON-able dict in, a JSON-able verdict dict out."""
    return grade_math(
        payload["completion"],
        payload["gold"],
        include_think=payload.get("include_think", False),
        timeout_s=payload.get("timeout_s", 5.0),
        unboxed=payload.get("unboxed", "markers"),
    ).to_dict()
