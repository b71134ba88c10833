"""Numbers as every report prints them: a value, or an interval whose bounds may be missing.

One formatter for the demo's targets, the gap report's Markdown, its HTML page and the eval
summary, so a bound that JSON stores as null (an unbounded recovery interval, written so
because JSON has no infinity) prints the same way everywhere instead of raising.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def fmt_num(x: float | None, digits: int = 3, signed: bool = False) -> str:
    """`x` with `digits` decimals (a leading sign when `signed`); "n/a" for None or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def fmt_ci(ci: Sequence[float | None] | None, digits: int = 3, signed: bool = False) -> str:
    """An interval as "[lo, hi]"; a missing lower bound prints as -inf, a missing upper as inf
    (how reports store unbounded ends); no interval at all prints as "n/a"."""
    if not ci:
        return "n/a"
    lo, hi = ci
    lo_s = "-inf" if lo is None else fmt_num(lo, digits, signed)
    hi_s = "inf" if hi is None else fmt_num(hi, digits, signed)
    return f"[{lo_s}, {hi_s}]"
