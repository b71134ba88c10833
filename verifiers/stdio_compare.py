"""Compare a program's stdout with the expected output, as LiveCodeBench does, minus its hole.

Same number of lines (after dropping trailing blank lines), each line compared after stripping
trailing whitespace; when a line differs as text, it still matches when both sides split into
the same number of tokens and every token pair is equal, numbers with a tolerance (integers
exactly). A missing line is a wrong answer: open-r1's `zip` over the lines let a program that
printed only the first expected line pass.
"""

from __future__ import annotations

import math
import re

_INT = re.compile(r"^[+-]?\d+$")
REL_TOL = 1e-6
ABS_TOL = 1e-6


def _lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip()
    return [ln.rstrip() for ln in text.split("\n")] if text else []


def _number(tok: str) -> float | None:
    try:
        value = float(tok)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _tokens_equal(a: str, e: str) -> bool:
    if a == e:
        return True
    if _INT.match(a) and _INT.match(e):
        return int(a) == int(e)  # integers: exact, however large
    x, y = _number(a), _number(e)
    if x is None or y is None:
        return False
    return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def compare_stdio(actual: str, expected: str) -> tuple[bool, str]:
    """(match, why): why names the first difference, empty when they match."""
    got, want = _lines(actual), _lines(expected)
    if len(got) != len(want):
        return False, f"expected {len(want)} lines, got {len(got)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if g == w:
            continue
        gt, wt = g.split(), w.split()
        if len(gt) == len(wt) and all(_tokens_equal(a, e) for a, e in zip(gt, wt, strict=True)):
            continue
        return False, f"line {i + 1}: expected {w[:200]!r}, got {g[:200]!r}"
    return True, ""
