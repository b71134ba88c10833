"""Tests of the wrong type are a `bad_tests` verdict, never text that happens to pass."""

import pytest
from reasoning_distill.verifiers.code import verify_code, verify_code_batch

WRONG = "```python\ndef f(x):\n    return x\n```"


@pytest.mark.parametrize(
    "tests",
    [
        {"kind": "assert", "code": ["assert f(2) == 5"]},  # became a list literal: no test at all
        {"kind": "assert", "code": "assert f(2) == 5", "setup": ["import os"]},
        {"kind": "assert", "code": "assert f(2) == 5", "entry_point": 3},
        {"kind": "stdio", "cases": {"input": "1", "output": "2"}},
        {"kind": "stdio", "cases": [{"input": ["1"], "output": "2"}]},
        {"kind": "stdio", "cases": [["1", "2"]]},
        {"kind": "call", "fn_name": "f", "cases": [{"input": 2, "output": 5}]},
        {"kind": "call", "fn_name": ["f"], "cases": [{"input": [2], "output": 5}]},
    ],
)
def test_wrongly_typed_tests_never_pass(tests):
    v = verify_code(WRONG, tests)
    assert (v.correct, v.reason) == (False, "bad_tests"), v


@pytest.mark.parametrize("completion", [None, ["def f(x): return x + 3"], 17])
def test_a_completion_that_is_not_text_is_bad_input(completion):
    v = verify_code(completion, {"kind": "assert", "code": "assert f(2) == 5"})
    assert (v.correct, v.reason) == (False, "bad_input")


def test_batch_keeps_order_and_well_typed_tests_still_run():
    tests = {"kind": "assert", "code": "assert f(2) == 5"}
    right = "```python\ndef f(x):\n    return x + 3\n```"
    got = verify_code_batch(
        [right, WRONG, right], [tests, tests, {"kind": "assert", "code": 1}], workers=2
    )
    assert [v.reason for v in got] == ["ok", "wrong_answer", "bad_tests"]
