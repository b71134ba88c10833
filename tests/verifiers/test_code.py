"""Code verification: program extraction, the three test kinds, and stdio comparison."""

import pytest
from reasoning_distill.verifiers import (
    compare_stdio,
    extract_program,
    verify_code,
    verify_code_batch,
)

TOY_TESTS = {
    "kind": "assert",
    "code": "assert f(2) == 5\nassert f(0) == 3",
    "entry_point": None,
    "setup": "",
}
TOY_OK = "<think>\nf(x) = x + 3 ... no, 2x? f(2)=5 -> x+3.\n</think>\n\nHere:\n```python\ndef f(x):\n    return x + 3\n```\n"

ADD = {
    "kind": "stdio",
    "cases": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10\n"}],
}


def fence(code: str) -> str:
    return f"Solution:\n```python\n{code}\n```\n"


@pytest.mark.parametrize(
    "completion,reason",
    [
        (TOY_OK, "ok"),
        (fence("def f(x):\n    return 2 * x + 1"), "wrong_answer"),
        (fence("import sys\nsys.exit(0)"), "wrong_answer"),  # exits before the tests run
        (fence("import os\nos._exit(0)"), "wrong_answer"),
        (fence("def f(x):\n    return x +"), "compile_error"),
        (fence("def f(x):\n    return undefined_name"), "runtime_error"),
        (fence("def f(x):\n    while True: pass"), "timeout"),
        (fence("def f(x):\n    return bytearray(4 * 1024**3)"), "memory_limit"),
        ("<think>\n```python\ndef f(x): return x + 3\n```", "no_code"),  # still thinking
        ("", "no_code"),
        ("def f(x):\n    return x + 3\n", "ok"),  # no fence: the whole text is the program
    ],
)
def test_assert_kind(completion, reason):
    v = verify_code(completion, TOY_TESTS, timeout_s=3, memory_mb=512)
    assert v.reason == reason, v


def test_humaneval_style_check_entry_point_and_setup():
    tests = {
        "kind": "assert",
        "setup": "K = 10",
        "code": "def check(candidate):\n    assert candidate(1) == 11\n    assert candidate(5) == 15",
        "entry_point": "add_k",
    }
    assert verify_code(fence("def add_k(x):\n    return x + K"), tests).correct
    assert verify_code(fence("def add_k(x):\n    return x + 1"), tests).reason == "wrong_answer"


def test_bad_tests_are_named():
    v = verify_code(TOY_OK, {"kind": "assert", "code": "assert f(2) ==", "setup": ""})
    assert v.reason == "bad_tests" and "compile" in v.details["error"]
    assert verify_code(TOY_OK, {"kind": "nope"}).reason == "bad_tests"
    assert verify_code(TOY_OK, {"kind": "stdio", "cases": []}).reason == "bad_tests"


def test_stdio_kind():
    ok = fence("a, b = map(int, input().split())\nprint(a + b)")
    assert verify_code(ok, ADD).correct
    wrong = verify_code(fence("a, b = map(int, input().split())\nprint(a * b)"), ADD)
    assert wrong.reason == "wrong_answer" and wrong.details["case"] == 0


def test_stdio_partial_output_fails():
    # open-r1 zips lines: printing only the first expected line passed there
    tests = {"kind": "stdio", "cases": [{"input": "", "output": "1\n2\n3\n"}]}
    v = verify_code(fence("print(1)"), tests)
    assert v.reason == "wrong_answer" and "3 lines" in v.details["diff"]
    assert verify_code(fence("print(1)\nprint(2)\nprint(3)"), tests).correct


def test_stdio_all_cases_and_whole_program_limit():
    cases = [{"input": str(i), "output": str(i * 2)} for i in range(4)]
    tests = {"kind": "stdio", "cases": cases}
    prog = fence("n = int(input())\nprint(n * 2 if n % 2 == 0 else -1)")
    v = verify_code(prog, tests, all_cases=True)
    assert v.reason == "wrong_answer" and v.details["case"] == 1
    assert [c["reason"] for c in v.details["cases"]] == ["ok", "wrong_answer", "ok", "wrong_answer"]
    slow = fence("import time\ntime.sleep(0.8)\nprint(int(input()) * 2)")
    v = verify_code(slow, tests, timeout_s=5, total_timeout_s=1.5)
    assert v.reason == "timeout", v


def test_call_kind_function_and_solution_class():
    tests = {
        "kind": "call",
        "fn_name": "is_prime",
        "cases": [{"input": [7], "output": [True]}, {"input": [8], "output": False}],
    }
    good = "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))"
    assert verify_code(fence(good), tests).correct
    assert verify_code(fence("def is_prime(n):\n    return True"), tests).reason == "wrong_answer"
    sol = {"kind": "call", "fn_name": "add", "cases": [{"input": [1, 2], "output": 3}]}
    assert verify_code(
        fence("class Solution:\n    def add(self, a, b):\n        return a + b"), sol
    ).correct


def test_extract_program_takes_the_last_python_block():
    text = "```python\nold()\n```\ntext\n```bash\nls\n```\n```py\nnew()\n```\nbye"
    assert extract_program(text) == "new()\n"
    assert extract_program("<think>```python\nx()\n```</think>no code here") == "no code here"
    assert extract_program("```python\nunclosed()\n") == "unclosed()\n"
    assert extract_program("   ") is None


@pytest.mark.parametrize(
    "actual,expected,ok",
    [
        ("3\n", "3", True),
        ("3   \n\n\n", "3\n", True),
        ("1 2\r\n3\r\n", "1 2\n3\n", True),
        ("1\n", "1\n2\n", False),
        ("1\n2\n3\n", "1\n2\n", False),
        ("0.3333333\n", "0.333333333\n", True),
        ("0.34\n", "0.333333333\n", False),
        ("1000000\n", "1000001\n", False),  # integers compare exactly
        ("YES\n", "yes\n", False),
        ("1.0 2\n", "1 2.000000\n", True),
        ("", "", True),
        ("nan\n", "nan\n", True),
    ],
)
def test_compare_stdio(actual, expected, ok):
    assert compare_stdio(actual, expected)[0] is ok


def test_batch_keeps_order_and_mixes_kinds():
    comps = [
        TOY_OK,
        fence("def f(x):\n    return 0"),
        fence("print(sum(map(int, input().split())))"),
    ]
    out = verify_code_batch(comps, [TOY_TESTS, TOY_TESTS, ADD], workers=2)
    assert [v.reason for v in out] == ["ok", "wrong_answer", "ok"]
    with pytest.raises(ValueError):
        verify_code_batch(comps, [TOY_TESTS])


def test_program_output_does_not_hide_the_pass():
    # buffered prints from the program are flushed at exit, after the harness's own line
    noisy = fence("def f(x):\n    print('debug', x)\n    return x + 3\nprint('loaded')")
    assert verify_code(noisy, TOY_TESTS).correct
