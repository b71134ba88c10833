"""The miniature world's task generator: right answers, disjoint splits, seeded."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from reasoning_distill.toy.tasks import FUNC_NAME, SPLITS, make_traces, split_of


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


def _program(trace) -> str:
    return trace.final.removeprefix("```python\n").removesuffix("\n```")


def _passes(program: str, tests: str) -> bool:
    namespace: dict = {}
    try:
        exec(program + "\n" + tests, namespace)  # noqa: S102 - our own generated code
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_code_gold_programs_pass_their_tests(split):
    for t in make_traces("code", split, 150, seed=1):
        assert t.problem.gold["kind"] == "assert"
        assert _passes(_program(t), t.problem.gold["code"]), t.problem.prompt


def test_code_tasks_name_one_function_everywhere():
    for t in make_traces("code", "train", 200, seed=2):
        assert f"function {FUNC_NAME}(x)" in t.problem.prompt
        assert _program(t).startswith(f"def {FUNC_NAME}(x):\n    return ")
        calls = re.findall(r"^assert (\w+)\(", t.problem.gold["code"], flags=re.M)
        assert calls and set(calls) == {FUNC_NAME}


def test_code_reasoning_folds_the_constants():
    traces = make_traces("code", "heldout", 150, seed=4)
    for t in traces:
        literal, fold, expr = t.reasoning.split("\n")
        lhs, rhs = fold.split("=")
        assert eval(lhs) == int(rhs) >= 0  # noqa: S307 - a true step, never negative
        assert _program(t).endswith(f"return {expr}") and expr.endswith(f" {rhs}")
        # The first line is the prompt's function as written, the last the same one folded.
        for x in (-3, 0, 7):
            assert eval(literal, {"x": x}) == eval(expr, {"x": x})  # noqa: S307
        # The tests tell the folded constant from its neighbours: a guess off by one fails.
        for wrong in (int(rhs) - 1, int(rhs) + 1):
            bad = _program(t)[: -len(rhs)] + str(wrong)
            assert not _passes(bad, t.problem.gold["code"]), (t.problem.prompt, bad)
    # Both folds (signs that agree add, signs that differ subtract) and both shapes occur.
    assert {"+", "-"} <= {
        t.reasoning.split("\n")[1].split("=")[0].strip("0123456789") for t in traces
    }
    assert any("multiplies by" in t.problem.prompt for t in traces)
    assert any("multiplies by" not in t.problem.prompt for t in traces)


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
