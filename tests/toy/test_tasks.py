"""The miniature world's task generator: right answers, disjoint splits, seeded."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from reasoning_distill.toy.tasks import SPLITS, make_traces, split_of


def _boxed(text: str) -> str:
    m = re.search(r"\\boxed\{(.*)\}", text)
    assert m, text
    return m.group(1)


def _latex_value(s: str) -> Fraction:
    m = re.fullmatch(r"\\frac\{(\d+)\}\{(\d+)\}", s)
    return Fraction(int(m.group(1)), int(m.group(2))) if m else Fraction(int(s))


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_math_answers_are_right(split):
    for t in make_traces("math", split, 300, seed=3):
        p = t.problem
        assert p.kind == "math" and split_of(p.prompt) == split
        assert _boxed(t.final) == p.gold
        if p.prompt.startswith("Compute") and "/" in p.prompt:
            a, d1, b, d2 = map(int, re.findall(r"(\d+)/(\d+)\+(\d+)/(\d+)", p.prompt)[0])
            assert _latex_value(p.gold) == Fraction(a, d1) + Fraction(b, d2)
            assert "\\frac" in p.gold or Fraction(a + b, d1).denominator == 1
        elif p.prompt.startswith("Compute"):
            expr = p.prompt.removeprefix("Compute ").rstrip(".")
            assert int(p.gold) == eval(expr)  # noqa: S307 - our own generated arithmetic
        # Every step of the gold reasoning is true arithmetic.
        for lhs, rhs in re.findall(r"^(\d+[+-]\d+)=(\d+)$", t.reasoning, flags=re.M):
            assert eval(lhs) == int(rhs)  # noqa: S307


def test_code_gold_programs_pass_their_tests():
    for t in make_traces("code", "train", 200, seed=1):
        program = t.final.removeprefix("```python\n").removesuffix("\n```")
        namespace: dict = {}
        exec(program + "\n" + t.problem.gold["code"], namespace)  # noqa: S102 - our own code
        assert t.problem.gold["kind"] == "assert"


def test_splits_are_disjoint_and_seeded():
    a = make_traces("math", "train", 500, seed=0)
    b = make_traces("math", "heldout", 200, seed=0)
    assert not {t.problem.prompt for t in a} & {t.problem.prompt for t in b}
    assert [t.problem.id for t in a] == [t.problem.id for t in make_traces("math", "train", 500)]
    assert [t.problem.id for t in a] != [
        t.problem.id for t in make_traces("math", "train", 500, seed=1)
    ]
    assert len({t.problem.id for t in a}) == 500


def test_some_fraction_answers_need_equivalence():
    golds = [t.problem.gold for t in make_traces("math", "train", 400)]
    assert any("\\frac" in g for g in golds)
    # Some reasoning reaches an unreduced fraction first (8/12 before 2/3).
    traces = make_traces("math", "train", 400)
    assert any(t.reasoning.count("/") >= 3 for t in traces)


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        make_traces("poetry", "train", 1)
    with pytest.raises(ValueError, match="split"):
        make_traces("math", "test", 1)
