"""Code verification: run a completion's program against its tests in the sandbox.

Test kinds (`tests` dicts, JSON-able so they travel in dataset rows):
- `{"kind": "assert", "code": ..., "entry_point": name | None, "setup": ...}`: HumanEval /
  MBPP style; the file run is the program, the setup, the tests, then `check(entry_point)`.
- `{"kind": "stdio", "cases": [{"input": ..., "output": ...}, ...]}`: competitive
  programming; the program runs once per case (a fresh process each) and its stdout is
  compared with `stdio_compare.compare_stdio`.
- `{"kind": "call", "fn_name": ..., "cases": [{"input": [args...], "output": ...}]}`: APPS
  call-based problems (a function, or a method of `class Solution`).

An `assert`/`call` run is judged out of band (`code_judge.py`): the program runs in a
process of its own, the tests run in the trusted judge's process and call the program's
functions through proxies that carry only data, and the verdict comes from the judge's
report on a pipe the program never holds. Nothing the program prints, exits with or finds in
its own memory can make a run pass: a program that exits before its tests, writes a fake
report to any descriptor, or patches builtins fails (only the tests' own comparisons, made
by the judge on plain data, can pass it).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from reasoning_distill.verifiers.code_extract import extract_program
from reasoning_distill.verifiers.progress_hook import progress_task
from reasoning_distill.verifiers.sandbox import ExecResult, run_python
from reasoning_distill.verifiers.stdio_compare import compare_stdio
from reasoning_distill.verifiers.verdict import (
    BAD_INPUT,
    BAD_TESTS,
    COMPILE_ERROR,
    MEMORY_LIMIT,
    NO_CODE,
    OUTPUT_LIMIT,
    RUNTIME_ERROR,
    TIMEOUT,
    VERIFIER_ERROR,
    WRONG_ANSWER,
    Verdict,
)

# LeetCode-style starters (`def f(self, arr: List[int])`) assume these names, as the judges
# that wrote those problems provide them; modules only, plus a few names, so that no star
# import shadows a builtin (math.pow would replace pow).
_CALL_IMPORTS = """from typing import *
import bisect, collections, functools, heapq, itertools, math, re, string
from collections import Counter, defaultdict, deque, OrderedDict
from functools import lru_cache, reduce, cache
from heapq import heapify, heappop, heappush
from bisect import bisect_left, bisect_right
from itertools import accumulate, combinations, permutations, product
from math import ceil, floor, gcd, inf, log, sqrt
"""

_CALL_HARNESS = """
import json as _rd_json
_rd_cases = _rd_json.loads({cases!r})
try:
    _rd_fn = Solution().{fn}
except NameError:
    _rd_fn = {fn}
for _rd_i, _rd_case in enumerate(_rd_cases):
    _rd_args = _rd_case["input"]
    _rd_out = _rd_fn(*_rd_args)
    if isinstance(_rd_out, tuple):
        _rd_out = list(_rd_out)
    _rd_want = _rd_case["output"]
    # APPS stores some return values wrapped in a one-element list
    _rd_ok = _rd_out == _rd_want or (
        isinstance(_rd_want, list) and len(_rd_want) == 1 and _rd_out == _rd_want[0]
    )
    assert _rd_ok, f"case {{_rd_i}}: expected {{_rd_want!r}}, got {{_rd_out!r}}"
"""


def _failure_from(res: ExecResult, extracted: str, **details: Any) -> Verdict | None:
    """The verdict for a run that did not finish cleanly, or None when it exited 0."""
    details = {**details, "wall_s": round(res.wall_s, 4), "isolation": res.isolation}
    tail = res.stderr[-1500:]
    if res.compile_error:
        return Verdict.fail(COMPILE_ERROR, extracted, stderr=tail, **details)
    if res.timed_out:
        return Verdict.fail(TIMEOUT, extracted, **details)
    if res.memory_exceeded:
        return Verdict.fail(MEMORY_LIMIT, extracted, **details)
    if res.output_exceeded:
        return Verdict.fail(OUTPUT_LIMIT, extracted, **details)
    if res.returncode != 0:
        last = tail.strip().splitlines()[-1] if tail.strip() else ""
        reason = WRONG_ANSWER if last.startswith("AssertionError") else RUNTIME_ERROR
        return Verdict.fail(reason, extracted, returncode=res.returncode, stderr=tail, **details)
    return None


def _stdio_program(program: str) -> str:
    """APPS-style stdin programs may `return` at the top level (their judge ran them inside a
    function): wrap those, and only those, in a function."""
    try:
        compile(program, "prog.py", "exec", dont_inherit=True)
    except SyntaxError as e:
        if "'return' outside function" in str(e.msg):
            body = "\n".join("    " + line for line in program.splitlines())
            return f"def _rd_main():\n{body}\n\n_rd_main()\n"
    except Exception:  # noqa: BLE001 - a compile that blows up is the sandbox's to report
        pass
    return program


def _type_name(value: Any) -> str:
    return type(value).__name__


def _check_cases(kind: str, cases: Any) -> str | None:
    if not isinstance(cases, list):
        return f"{kind} tests: 'cases' must be a list, got {_type_name(cases)}"
    if not cases:
        return f"{kind} tests have no cases"
    for i, case in enumerate(cases):
        if not isinstance(case, dict) or "input" not in case or "output" not in case:
            return f"{kind} tests: case {i} must be an object with 'input' and 'output'"
        if kind == "stdio":
            for key in ("input", "output"):
                if not isinstance(case[key], str):
                    return (
                        f"stdio tests: case {i} {key!r} must be a string, "
                        f"got {_type_name(case[key])}"
                    )
        elif not isinstance(case["input"], list):
            return f"call tests: case {i} 'input' must be a list of arguments"
    return None


class TestsError(ValueError):
    """Why a tests value cannot be run; `not_json` when it is text that does not parse."""

    def __init__(self, why: str, not_json: bool = False) -> None:
        super().__init__(why)
        self.not_json = not_json


def parse_tests(value: Any, convert: Callable[[Any], Any] | None = None) -> dict:
    """The tests dict `value` holds: a dict, or its JSON text (as JSONL rows and dataset
    columns store it), passed through `convert` (a dataset's own layout to a tests dict) and
    checked by `check_tests`. A `TestsError` says why not."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise TestsError(str(e), not_json=True) from None
    if convert is not None:
        value = convert(value)
    why = check_tests(value)
    if why:
        raise TestsError(why)
    return value


def check_tests(tests: Any) -> str | None:
    """Why `tests` cannot be run, or None. Values of the wrong type are refused, never turned
    into text: a list given as `code` would become a list literal, a statement that tests
    nothing, and every program would pass."""
    if not isinstance(tests, dict) or tests.get("kind") not in ("assert", "stdio", "call"):
        return "tests must be a dict with kind 'assert', 'stdio' or 'call'"
    if tests["kind"] == "assert":
        code, setup, entry = tests.get("code"), tests.get("setup"), tests.get("entry_point")
        if not isinstance(code, str):
            return f"assert tests: 'code' must be a string, got {_type_name(code)}"
        if setup is not None and not isinstance(setup, str):
            return f"assert tests: 'setup' must be a string, got {_type_name(setup)}"
        if entry not in (None, "") and not (isinstance(entry, str) and entry.isidentifier()):
            return f"assert tests: 'entry_point' must be a function name, got {entry!r}"
        if not code.strip():
            return "assert tests have no code"
        try:
            compile(code, "<tests>", "exec")
            compile(setup or "", "<setup>", "exec")
        except (SyntaxError, ValueError) as e:
            return f"test code does not compile: {e}"
        return None
    why = _check_cases(tests["kind"], tests.get("cases"))
    if why:
        return why
    fn = tests.get("fn_name")
    if tests["kind"] == "call" and not (isinstance(fn, str) and fn.isidentifier()):
        return "call tests need fn_name"
    return None


_JUDGE_REASONS = {WRONG_ANSWER, RUNTIME_ERROR, TIMEOUT, MEMORY_LIMIT, OUTPUT_LIMIT, VERIFIER_ERROR}


def _kept_names(tests: str, setup: str) -> list[str]:
    """Names the tests get from the program even where they shadow a builtin or a standard
    module: what the setup binds, and the function each top-level assert calls
    (`assert sum(10, 15) == 6`: MBPP's function under test may be called `sum`)."""
    import ast

    names: set[str] = set()
    for part, code in (("setup", setup), ("tests", tests)):
        try:
            tree = ast.parse(code or "")
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if part == "setup":
                for sub in ast.walk(node) if isinstance(node, ast.Assign) else [node]:
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.Assert):
                expr = node.test
                if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
                    expr = expr.operand
                if isinstance(expr, ast.Compare):
                    expr = expr.left
                if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
                    names.add(expr.func.id)
    return sorted(names)


def _run_judged(program: str, setup: str, tests: str, keep: str | None, opts: dict) -> ExecResult:
    """Run `program` then `setup` in the program's process and `tests` in the judge (`keep`:
    the entry point, a name the tests get even where it shadows a builtin)."""
    kept = sorted({*_kept_names(tests, setup), *([keep] if keep else [])})
    config = json.dumps({"setup": setup, "tests": tests, "keep": kept})
    return run_python(
        program,
        timeout_s=opts["total_timeout_s"],
        memory_mb=opts["memory_mb"],
        judge_config=config,
    )


def _judged_verdict(res: ExecResult, program: str) -> Verdict:
    """The verdict of a judged run: the sandbox's limits first, then the judge's report."""
    failed = _failure_from(res, program)
    if failed is not None:
        if failed.reason == RUNTIME_ERROR:
            failed.details["error"] = (
                f"the judge ended with status {res.returncode} (the program stopped it)"
            )
        return failed
    report = res.report
    if report is None:
        return Verdict.fail(
            RUNTIME_ERROR,
            program,
            error="the judge ended without a report (the program stopped it)",
            stderr=res.stderr[-1500:],
            isolation=res.isolation,
        )
    if report.get("passed") is True and report.get("reason") == "ok":
        return Verdict.ok(program, wall_s=round(res.wall_s, 4), isolation=res.isolation)
    reason = report.get("reason")
    reason = reason if reason in _JUDGE_REASONS else RUNTIME_ERROR
    return Verdict.fail(
        reason,
        program,
        error=str(report.get("error", ""))[:2000],
        stderr=res.stderr[-1500:],
        wall_s=round(res.wall_s, 4),
        isolation=res.isolation,
    )


def verify_code(
    completion: str,
    tests: dict,
    timeout_s: float = 6.0,
    total_timeout_s: float | None = None,
    memory_mb: int = 1024,
    all_cases: bool = False,
    include_think: bool = False,
) -> Verdict:
    """Verdict for the program in `completion` against `tests` (see the module docstring).

    `timeout_s` bounds each stdio case (and a whole assert/call run when `total_timeout_s` is
    not given); `total_timeout_s` bounds the whole program over all its cases. The first
    failing case ends the run unless `all_cases`. Never raises for bad model output.
    """
    if not isinstance(completion, str):
        return Verdict.fail(
            BAD_INPUT, None, error=f"completion must be a string, got {_type_name(completion)}"
        )
    program = extract_program(completion, include_think)
    if program is None:
        return Verdict.fail(NO_CODE, None)
    why = check_tests(tests)
    if why:
        return Verdict.fail(BAD_TESTS, program, error=why)
    opts = {
        "timeout_s": float(timeout_s),
        "total_timeout_s": float(total_timeout_s or timeout_s),
        "memory_mb": memory_mb,
    }
    try:
        if tests["kind"] == "stdio":
            if total_timeout_s is None:
                opts["total_timeout_s"] = float(timeout_s) * len(tests["cases"])
            return _verify_stdio(program, tests["cases"], opts, all_cases)
        if tests["kind"] == "assert":
            entry = tests.get("entry_point") or None
            code = tests["code"] + (f"\n\ncheck({entry})\n" if entry else "")
            res = _run_judged(program, tests.get("setup") or "", code, entry, opts)
        else:
            cases = json.dumps(list(tests["cases"]))
            code = _CALL_HARNESS.format(cases=cases, fn=tests["fn_name"])
            res = _run_judged(_CALL_IMPORTS + program, "", code, tests["fn_name"], opts)
    except Exception as e:  # the sandbox itself failed: say so, never crash the batch
        return Verdict.fail(VERIFIER_ERROR, program, error=repr(e)[:500])
    return _judged_verdict(res, program)


def _verify_stdio(program: str, cases: Sequence[dict], opts: dict, all_cases: bool) -> Verdict:
    source = _stdio_program(program)
    start = time.monotonic()
    results: list[dict] = []
    first_fail: Verdict | None = None
    for i, case in enumerate(cases):
        left = opts["total_timeout_s"] - (time.monotonic() - start)
        if left <= 0:
            first_fail = first_fail or Verdict.fail(
                TIMEOUT, program, case=i, error="whole-program time limit"
            )
            break
        res = run_python(
            source,
            stdin=case["input"],
            timeout_s=min(opts["timeout_s"], left),
            memory_mb=opts["memory_mb"],
        )
        v = _failure_from(res, program, case=i)
        if v is None:
            ok, why = compare_stdio(res.stdout, case["output"])
            if not ok:
                v = Verdict.fail(WRONG_ANSWER, program, case=i, diff=why)
        results.append({"case": i, "reason": v.reason if v else "ok"})
        if v is not None:
            first_fail = first_fail or v
            if not all_cases:
                break
    if first_fail is not None:
        if all_cases:
            first_fail.details["cases"] = results
        return first_fail
    return Verdict.ok(program, cases=len(cases), isolation=res.isolation)


def iter_verify_code(
    completions: Sequence[Any],
    tests_list: Sequence[Any],
    workers: int | None = None,
    **options: Any,
) -> Iterator[tuple[int, Verdict]]:
    """(`index`, verdict) pairs as programs finish, `workers` at a time (default: the CPUs).

    At most two programs per worker are queued, so when the caller stops (Ctrl-C, or closing
    the generator) nothing more starts: only the programs already running finish (each
    within its time limit), and every verdict yielded before is the caller's to keep.
    """
    import os

    if len(completions) != len(tests_list):
        raise ValueError(
            f"verify_code_batch: {len(completions)} completions but {len(tests_list)} tests"
        )
    n = max(1, workers or os.cpu_count() or 1)
    todo = iter(enumerate(zip(completions, tests_list, strict=True)))
    ex = ThreadPoolExecutor(max_workers=n, thread_name_prefix="verify-code")
    pending: dict[Future, int] = {}

    def submit(k: int) -> None:
        for i, (c, t) in itertools.islice(todo, k):
            pending[ex.submit(verify_code, c, t, **options)] = i

    try:
        submit(2 * n)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                yield i, fut.result()
            submit(len(done))
    finally:
        ex.shutdown(wait=False, cancel_futures=True)


def verify_code_batch(
    completions: Sequence[str],
    tests_list: Sequence[dict],
    workers: int | None = None,
    progress: Any = False,
    **options: Any,
) -> list[Verdict]:
    """`verify_code` over many rows, `workers` programs at a time (each in its own warm
    sandbox; default: the number of CPUs). Options are those of `verify_code`."""
    out: list[Verdict | None] = [None] * len(completions)
    with progress_task(progress, "verify code", len(completions)) as task:
        for i, verdict in iter_verify_code(completions, tests_list, workers, **options):
            out[i] = verdict
            task.advance(1)
    return out  # type: ignore[return-value]
