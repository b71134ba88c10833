"""Format checks, and composing them with the answer verifiers over one row."""

import pytest
from reasoning_distill.verifiers import all_of, check_format, verify_code, verify_math

GOOD = "<think>\nLet me compute 17.\n</think>\n\nThe answer is \\boxed{17}."


@pytest.mark.parametrize(
    "completion,finish,kw,reason",
    [
        (GOOD, "stop", {}, "ok"),
        (GOOD.replace("<think>\n", ""), "stop", {}, "ok"),  # template already opened it
        (GOOD, "length", {}, "truncated"),
        ("<think>\nstill going and going", "length", {}, "truncated"),
        ("<think>\nstill going \\boxed{3}", "stop", {}, "unclosed_think"),
        ("The answer is \\boxed{17}", "stop", {}, "no_think"),  # never opened: not "unclosed"
        ("no think and no box", "stop", {}, "no_think"),
        # The prompt opened the block: a completion with no tag never closed it.
        ("still thinking \\boxed{3}", "stop", {"think_opened": True}, "unclosed_think"),
        ("The answer is \\boxed{17}", "stop", {"require_think": False}, "ok"),
        ("<think>a</think><think>b</think>\\boxed{1}", "stop", {}, "malformed_think"),
        ("<think>x</think> no box at all", "stop", {}, "no_answer"),
        ("<think>x</think> \\boxed{1} or maybe \\boxed{2}", "stop", {}, "multiple_answers"),
        ("<think>\\boxed{1}</think> \\boxed{2}", "stop", {}, "ok"),  # boxes while thinking are fine
        (GOOD, "stop", {"max_chars": 10}, "too_long"),
        (GOOD, "stop", {"max_tokens": 100, "num_tokens": 101}, "too_long"),
        (GOOD, "stop", {"language": "en"}, "ok"),
        (
            "<think>\n我们先计算 then we add</think>\\boxed{1}",
            "stop",
            {"language": "en"},
            "wrong_language",
        ),
        ("<think>x</think>\n```python\ndef f(): pass\n```", "stop", {"answer": "code"}, "ok"),
        (
            "<think>x</think>\n```python\na=1\n```\n```python\nb=2\n```",
            "stop",
            {"answer": "code"},
            "multiple_answers",
        ),
        ("<think>x</think> whatever", None, {"answer": None}, "ok"),
        # the default (auto) takes one box or, without a box, one Python block
        ("<think>x</think>\n```python\ndef f(): pass\n```", "stop", {}, "ok"),
        (
            "<think>x</think>\n```python\na=1\n```\n```python\nb=2\n```",
            "stop",
            {},
            "multiple_answers",
        ),
        ("<think>x</think> no box at all", "stop", {"answer": "boxed"}, "no_answer"),
        # math: at most one box; an unboxed answer (`#### 28`) is left to the math verifier
        ("<think>x</think> #### 28", "stop", {"answer": "math"}, "ok"),
        ("#### 28", "stop", {"answer": "math", "require_think": False}, "ok"),
        (
            "<think>x</think> \\boxed{1} or \\boxed{2}",
            "stop",
            {"answer": "math"},
            "multiple_answers",
        ),
    ],
)
def test_check_format(completion, finish, kw, reason):
    assert check_format(completion, finish, **kw).reason == reason


def test_bad_options_are_errors():
    with pytest.raises(ValueError, match="answer"):
        check_format(GOOD, answer="latex")
    with pytest.raises(ValueError, match="language"):
        check_format(GOOD, language="klingon")


def test_a_row_passes_when_all_its_verifiers_do():
    row_ok = all_of([check_format(GOOD, "stop"), verify_math(GOOD, "17")])
    assert row_ok.correct and row_ok.extracted == "17"
    # right answer, but cut off at the length limit: not a trace to train on
    row_cut = all_of([check_format(GOOD, "length"), verify_math(GOOD, "17")])
    assert not row_cut.correct and row_cut.reason == "truncated"
    code = "<think>x</think>\n```python\ndef f(x):\n    return x + 3\n```"
    tests = {"kind": "assert", "code": "assert f(2) == 5", "entry_point": None, "setup": ""}
    row = all_of([check_format(code, "stop", answer="code"), verify_code(code, tests)])
    assert row.correct and len(row.details["parts"]) == 2
