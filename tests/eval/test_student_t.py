"""Student's t quantiles against printed tables, small and fractional df included."""

from __future__ import annotations

import pytest
from reasoning_distill.eval.student_t import t_cdf, t_quantile

# 97.5% points from a standard t table (Abramowitz & Stegun 26.10, 3 decimals)
TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 10: 2.228, 30: 2.042, 120: 1.980}


@pytest.mark.parametrize(("df", "want"), sorted(TABLE.items()))
def test_matches_the_table(df, want):
    assert t_quantile(0.975, df) == pytest.approx(want, abs=6e-4)


def test_inverts_the_cdf_for_fractional_df():
    for df in (0.7, 2.5, 7.3, 55.5):
        for p in (0.025, 0.3, 0.5, 0.9, 0.995):
            assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-9)
    # df = 1 is Cauchy: P(T <= 1) = 3/4; df -> large approaches the normal's 1.95996
    assert t_cdf(1.0, 1) == pytest.approx(0.75, abs=1e-12)
    assert t_quantile(0.975, 1e6) == pytest.approx(1.959966, abs=1e-5)


def test_no_spread_without_degrees_of_freedom():
    assert t_quantile(0.975, 0) == float("inf")
    with pytest.raises(ValueError, match="p must be in"):
        t_quantile(1.0, 3)
