"""The verifiers against the real benchmark data in ../shared/benchmarks (skipped when absent).

- math: every gold answer of GSM8K, MATH-500, AIME 2024/2025 and AMC 2023, written as
  `\\boxed{gold}` at the end of a realistic completion, verifies; a changed answer does not;
- code: every HumanEval canonical solution passes; every MBPP reference passes except the
  two known data defects (367: its tests use a `Node` class the reference never defines;
  123: correct but slower than the time limit in plain CPython); every APPS reference
  solution passes; programs that print only part of the expected output fail.
"""

import ast
import json
from fractions import Fraction

import pytest
from reasoning_distill.verifiers import verify_code_batch, verify_math_batch

from tests.benchmark_files import SHARED_BENCHMARKS as SHARED

pytestmark = pytest.mark.usefixtures("shared_benchmarks")  # skipped without the files


def _rows(name):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _completion(problem: str, answer: str) -> str:
    return (
        "<think>\nLet me read the problem carefully.\n"
        f"{problem[:300]}\nI'll work it out step by step... 2 + 3 = 5, so not that.\n</think>\n\n"
        f"Working through the problem gives the result.\n\n**Final Answer**\n\\[\\boxed{{{answer}}}\\]"
    )


def _changed(gold: str) -> str:
    """A different answer: a number moved by one, anything else with a term added."""
    try:
        return str(Fraction(gold.replace(",", "")) + 1)
    except ValueError:
        return f"{gold} + 1" if "," not in gold and "\\\\" not in gold else f"{gold}, 1234567"


MATH_SETS = [
    ("gsm8k_test.jsonl", "question"),
    ("math500_test.jsonl", "problem"),
    ("aime2024.jsonl", "problem"),
    ("aime2025.jsonl", "problem"),
    ("amc2023.jsonl", "problem"),
]


@pytest.mark.parametrize("name,qfield", MATH_SETS)
def test_every_gold_verifies_and_a_changed_answer_does_not(name, qfield):
    rows = _rows(name)
    golds = [str(r["answer"]) for r in rows]
    right = verify_math_batch(
        [_completion(r[qfield], g) for r, g in zip(rows, golds, strict=False)], golds
    )
    bad = [
        (r.get("id"), g, v.reason, v.extracted)
        for r, g, v in zip(rows, golds, right, strict=False)
        if not v.correct
    ]
    assert bad == [], f"{len(bad)} gold answers did not verify against themselves: {bad[:10]}"
    wrong = verify_math_batch(
        [_completion(r[qfield], _changed(g)) for r, g in zip(rows, golds, strict=False)], golds
    )
    passed = [
        (r.get("id"), g, v.extracted)
        for r, g, v in zip(rows, golds, wrong, strict=False)
        if v.correct
    ]
    assert passed == [], f"{len(passed)} changed answers verified as correct: {passed[:10]}"


def test_humaneval_canonical_solutions_all_pass():
    rows = _rows("humaneval.jsonl")
    comps = [f"```python\n{r['prompt']}{r['canonical_solution']}\n```" for r in rows]
    tests = [
        {"kind": "assert", "code": r["test"], "entry_point": r["entry_point"], "setup": ""}
        for r in rows
    ]
    verdicts = verify_code_batch(comps, tests, timeout_s=20)
    bad = [
        (r["task_id"], v.reason, v.details.get("stderr", "")[-300:])
        for r, v in zip(rows, verdicts, strict=False)
        if not v.correct
    ]
    assert len(rows) == 164 and bad == []
    # and a solution that returns a wrong value is caught by every task's tests
    wrong = [f"```python\n{r['prompt']}    return None\n```" for r in rows]
    caught = verify_code_batch(wrong, tests, timeout_s=20)
    assert sum(v.correct for v in caught) == 0


def _mbpp_tests(r):
    test_list = r["test_list"]
    if isinstance(test_list, str):
        test_list = ast.literal_eval(test_list)
    return {
        "kind": "assert",
        "code": "\n".join(test_list),
        "entry_point": None,
        "setup": r["test_setup_code"] or "",
    }


def test_mbpp_reference_solutions_pass_except_the_known_defects():
    """The data README names two defects: 123 (correct, but about 10 s in CPython) and 367
    (its tests build trees with `Node`).

    123 is slow, not wrong: near the 10 s limit it passes or times out depending on the
    machine's load, so both are accepted here; a 2 s limit must time out a program that
    never finishes under its tests.
    367's reference does define `Node`, so it fails only where the setup runs before the
    program; in the order we run (program, setup, tests, as the issue specifies) it passes,
    which this test pins down."""
    rows = _rows("mbpp_test.jsonl")
    comps = [f"```python\n{r['code']}\n```" for r in rows]
    verdicts = verify_code_batch(comps, [_mbpp_tests(r) for r in rows], timeout_s=10)
    bad = {str(r["task_id"]): v for r, v in zip(rows, verdicts, strict=True) if not v.correct}
    assert len(rows) == 500
    assert set(bad) <= {"123"}, {
        k: (v.reason, v.details.get("stderr", "")[-200:]) for k, v in bad.items()
    }
    if bad:
        assert bad["123"].reason == "timeout"
    i123 = next(i for i, r in enumerate(rows) if str(r["task_id"]) == "123")
    # the limit itself, with a program that cannot finish on any machine (123 alone may)
    endless = f"```python\n{rows[i123]['code']}\nwhile True:\n    pass\n```"
    v123 = verify_code_batch([endless], [_mbpp_tests(rows[i123])], timeout_s=2)[0]
    assert v123.reason == "timeout"
    # 367 with the setup first (the order some harnesses use) is the reported defect
    r367 = next(r for r in rows if str(r["task_id"]) == "367")
    tests = _mbpp_tests(r367)
    setup_first = {**tests, "setup": "", "code": tests["setup"] + "\n" + tests["code"]}
    v = verify_code_batch([f"```python\n{tests['setup']}\n{r367['code']}\n```"], [setup_first])[0]
    assert v.reason == "runtime_error" and "Node" in v.details["stderr"]


def _apps_tests(r):
    if r["io_mode"] == "call":
        return {"kind": "call", "fn_name": r["fn_name"], "cases": r["tests"]}
    return {"kind": "stdio", "cases": r["tests"]}


def test_apps_reference_solutions_all_pass():
    rows = _rows("stdio_apps_coderl_sample.jsonl")
    comps, tests, names = [], [], []
    for r in rows:
        for i, sol in enumerate(r["reference_solutions"]):
            comps.append(f"```python\n{sol}\n```")
            tests.append(_apps_tests(r))
            names.append(f"{r['problem_id']}#{i}")
    verdicts = verify_code_batch(comps, tests, timeout_s=10)
    bad = [(n, v.reason, v.details) for n, v in zip(names, verdicts, strict=False) if not v.correct]
    assert len(comps) > 50 and bad == []


@pytest.mark.parametrize(
    "name",
    [
        "stdio_apps_coderl_sample.jsonl",
        "stdio_codeforces_test.jsonl",
        "stdio_code_contests_test.jsonl",
    ],
)
def test_printing_only_part_of_the_expected_output_fails(name):
    comps, tests = [], []
    for r in _rows(name):
        cases = r["tests"] if isinstance(r["tests"], list) else ast.literal_eval(r["tests"])
        if r.get("io_mode", "stdin") != "stdin":
            continue
        case = cases[0]
        lines = str(case["output"]).strip().splitlines()
        if len(lines) < 2:
            continue
        # ignores its input and prints the first expected line only (open-r1's zip passed it)
        comps.append(f"```python\nprint({lines[0]!r})\n```")
        tests.append({"kind": "stdio", "cases": [case]})
        if len(comps) == 25:
            break
    assert comps, f"no multi-line cases in {name}"
    verdicts = verify_code_batch(comps, tests, timeout_s=10)
    assert [v.reason for v in verdicts] == ["wrong_answer"] * len(comps)
