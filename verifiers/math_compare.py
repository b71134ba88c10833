"""Compare answers with math-verify: one expression against one, or answers with several parts.

Runs in a math worker process (see `math_grade`): math-verify's timeouts use `signal.alarm`,
and a `TimeoutException` from any call here is left to the caller, which makes it a verdict.

Several parts (`math_parts.split_parts`) are compared as sets: every gold part equals some
answer part and every answer part equals some gold part, so order and repeats do not count.
A part that names a variable (`k = 45`) matches only a part with the same name, or a bare
value (`45`); an ordered tuple is compared item by item, in order.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Any

from reasoning_distill.verifiers.math_parts import name_value

_INT_RE = re.compile(r"^\s*\$?\s*([+-]?\d+)\s*\$?\s*$")
_FRAC_RE = re.compile(r"^\s*\$?\s*([+-]?)\\d?frac\{(\d+)\}\{(\d+)\}\s*\$?\s*$")


def exact_number(text: str) -> tuple[Fraction, bool] | None:
    """(value, is_integer) for a plain integer or `\\frac{a}{b}`; None for anything else."""
    m = _INT_RE.match(text)
    if m:
        return Fraction(int(m.group(1))), True
    m = _FRAC_RE.match(text)
    if m and int(m.group(3)) != 0:
        value = Fraction(int(m.group(2)), int(m.group(3)))
        return (-value if m.group(1) == "-" else value), False
    return None


def _exact_tuple(text: str) -> list[tuple[Fraction, bool]] | None:
    """The items of `(3, -4)` when every item is an integer or plain fraction; else None."""
    t = text.strip()
    if not (t.startswith("(") and t.endswith(")")) or "(" in t[1:-1] or ")" in t[1:-1]:
        return None
    items = [exact_number(x) for x in t[1:-1].split(",")]
    if len(items) < 2 or any(x is None for x in items):
        return None
    return items  # type: ignore[return-value]


def fast_verdict(answer: str, gold: str) -> bool | None:
    """Exact answer for the common easy case (integers, plain fractions, tuples of them such
    as `(3, -4)`), without sympy.

    Returns True (equal), False (two different integers: math-verify agrees) or None (let
    math-verify decide: it compares non-integers with a tolerance, so inequality is its call).
    """
    a, g = exact_number(answer), exact_number(gold)
    if a is not None and g is not None:
        return _same_exact([a], [g])
    at, gt = _exact_tuple(answer), _exact_tuple(gold)
    if at is None or gt is None:
        return None
    if len(at) != len(gt):
        return False
    return _same_exact(at, gt)


def _same_exact(a: list[tuple[Fraction, bool]], g: list[tuple[Fraction, bool]]) -> bool | None:
    if all(x[0] == y[0] for x, y in zip(a, g, strict=True)):
        return True
    if any(x[0] != y[0] and x[1] and y[1] for x, y in zip(a, g, strict=True)):
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


def parse_answer(text: str, timeout: int | None) -> list[Any]:
    """math-verify's parse of one answer text; [] when it holds no math."""
    from math_verify import parse

    # `$...$` makes math-verify read the whole text as one LaTeX expression (its inline
    # pattern stops at a newline, hence the strip); the plain expression grammar is the
    # second chance for things like `1/2` or `3.5e2`.
    parsed = parse(f"${text.strip()}$", extraction_config=_configs(True), parsing_timeout=timeout)
    if not _has_math(parsed):
        parsed = parse(text, extraction_config=_configs(False), parsing_timeout=timeout)
    return parsed if _has_math(parsed) else []


@lru_cache(maxsize=4096)
def parse_gold_cached(gold_text: str, timeout: int | None) -> tuple[Any, ...]:
    return tuple(parse_answer(gold_text, timeout))


def same_answer(gold: list[Any], pred: list[Any], timeout: int | None) -> bool:
    from math_verify import verify

    return bool(verify(gold, pred, timeout_seconds=timeout))


def _is_exact(text: str) -> bool:
    return exact_number(text) is not None or _exact_tuple(text) is not None


def _squash(text: str) -> str:
    return re.sub(r"\s+|\\[,;!: ]", "", text)


def _same_name(gold: str, pred: str) -> bool:
    """`x_1` and `x_1` are one name, and so are `x_1` and a bare `x` (roots numbered in the
    gold, all called `x` in the answer); `y_1` and `y_2`, or `k` and `n`, are not."""
    if gold == pred:
        return True
    g_base, _, g_sub = gold.partition("_")
    p_base, _, p_sub = pred.partition("_")
    return g_base == p_base and not (g_sub and p_sub)


class PartComparer:
    """Compares parts for one grading call; parses each answer part once."""

    def __init__(self, timeout: int | None) -> None:
        self.timeout = timeout
        self._parsed: dict[str, list[Any]] = {}

    def gold_parses(self, part: str) -> bool:
        _, value = name_value(part)
        return _is_exact(value) or bool(parse_gold_cached(value, self.timeout))

    def parses(self, part: str) -> bool:
        _, value = name_value(part)
        return _is_exact(value) or bool(self._parse(value))

    def _parse(self, text: str) -> list[Any]:
        if text not in self._parsed:
            self._parsed[text] = parse_answer(text, self.timeout)
        return self._parsed[text]

    def same_value(self, gold: str, pred: str) -> bool:
        if _squash(gold) == _squash(pred):
            return True
        fast = fast_verdict(pred, gold)
        if fast is not None:
            return fast
        g = list(parse_gold_cached(gold, self.timeout))
        p = self._parse(pred)
        return bool(g and p) and same_answer(g, p, self.timeout)

    def same_part(self, gold: str, pred: str) -> bool:
        g_name, g_value = name_value(gold)
        p_name, p_value = name_value(pred)
        if g_name is not None and p_name is not None and not _same_name(g_name, p_name):
            return False
        return self.same_value(g_value, p_value)

    def same_set(self, gold: list[str], pred: list[str]) -> bool:
        """Every gold part has an equal answer part, and every answer part an equal gold part."""
        matched_pred: set[int] = set()
        for g in gold:
            hits = [j for j, p in enumerate(pred) if self.same_part(g, p)]
            if not hits:
                return False
            matched_pred.update(hits)
        # every pair was compared above, so an answer part no gold part matched has none
        return len(matched_pred) == len(pred)

    def same_sequence(self, gold: list[str], pred: list[str]) -> bool:
        return len(gold) == len(pred) and all(
            self.same_part(g, p) for g, p in zip(gold, pred, strict=True)
        )
