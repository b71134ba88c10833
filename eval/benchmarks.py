"""Registry of benchmarks: each maps its rows to `Problem`s with one fixed prompt template.

Front matter (name, version, source = Hugging Face dataset id, size, metric, answer format):

| name | version | source (config, split) | size | metric | answer format |
|---|---|---|---|---|---|
| gsm8k | 1 | openai/gsm8k (main, test) | 1319 | pass@1 | integer after `####`, commas removed |
| math500 | 1 | HuggingFaceH4/MATH-500 (test) | 500 | pass@1 | LaTeX expression |
| aime2024 | 1 | HuggingFaceH4/aime_2024 (train) | 30 | pass@1 | integer 0-999 |
| aime2025 | 1 | math-ai/aime25 (test) | 30 | pass@1 | integer 0-999 |
| aime2026 | 1 | MathArena/aime_2026 (train) | 30 | pass@1 | integer 0-999 |
| amc2023 | 1 | math-ai/amc23 (test) | 40 | pass@1 | number |
| humaneval | 1 | openai/openai_humaneval (test) | 164 | pass@1 | Python function; `assert` tests + `check(entry_point)` |
| mbpp | 1 | google-research-datasets/mbpp (full, test) | 500 | pass@1 | Python function; `assert` tests |
| codeforces | 1 | agentica-org/DeepCoder-Preview-Dataset (codeforces, test) | 408 | pass@1 | stdin/stdout program |
| code_contests | 1 | deepmind/code_contests (test) | 165 | pass@1 | stdin/stdout program |
| apps | 1 | codeparrot/apps (test) | 5000 (local sample: 5) | pass@1 | stdin/stdout program or a function (`call`) |
| livecodebench* | 1 | livecodebench/code_generation_lite (see `eval.livecodebench`) | per release | pass@1 | stdin program or a `Solution` method |
| toy_math, toy_code | toy-N | the miniature world (`reasoning_distill.toy.tasks`, held-out split) | 300 / 100 | pass@1 | `\\boxed{}` answer / Python function |

Every benchmark also states its prompt template (`prompt_template`), its token budget
(`max_tokens`, what `rdistill eval` uses unless told otherwise) and how its answers are
extracted and scored (`answer_format`, `metric`).

A benchmark's `version` changes whenever its row mapping or prompt template changes, so a
result file names exactly what was asked. Gold shapes: math -> the answer string; code ->
`{"kind": "assert", "code", "entry_point", "setup"}`, `{"kind": "stdio", "cases": [{input,
output}]}` or `{"kind": "call", "fn_name", "cases"}` (what `reasoning_distill.verifiers`
checks). The loader reads a local JSONL (the shapes of `../shared/benchmarks/README.md`) or,
without a path, the public dataset through `datasets.load_dataset`; one row mapper per kind
accepts both the local and the Hub field names. Codeforces / CodeContests problems that
accept several outputs are compared exactly by the verifier: a known source of false negatives.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from reasoning_distill.eval import livecodebench as _livecodebench  # noqa: F401  (registers)
from reasoning_distill.eval import toy_benchmarks as _toy_benchmarks  # noqa: F401  (registers)
from reasoning_distill.eval.registry import (
    REGISTRY,
    Benchmark,
    BenchmarkUnavailable,
    Row,
    register,
)

from reasoning_distill.errors import ConfigError, InputError
from reasoning_distill.generation.prompts import MATH_TEMPLATE, build_prompt
from reasoning_distill.jsonl import iter_jsonl
from reasoning_distill.records import Problem

__all__ = [
    "REGISTRY",
    "Benchmark",
    "BenchmarkUnavailable",
    "Row",
    "get_benchmark",
    "list_benchmarks",
    "load_benchmark",
]

logger = logging.getLogger(__name__)

FUNCTION_TEMPLATE = (
    "Complete the following Python function. Reply with the whole function in a ```python "
    "code block.\n\n```python\n{problem}```"
)
MBPP_TEMPLATE = (
    "{problem}\nYour code should pass these tests:\n\n{tests}\n\n"
    "Reply with the code in a ```python code block."
)
STDIO_TEMPLATE = (
    "{problem}\n\nWrite a Python program that reads the input from standard input and writes "
    "the answer to standard output. Reply with the program in a ```python code block."
)
CALL_TEMPLATE = (
    "{problem}\n\nComplete this starter code and reply with it in a ```python code block:"
    "\n\n```python\n{starter}```"
)


def _meta(b: Benchmark, row: Row, keys: Iterable[str], **more: Any) -> dict[str, Any]:
    meta = {"benchmark": b.name, "version": b.version}
    meta.update({k: row[k] for k in keys if row.get(k) not in (None, "")})
    meta.update(more)
    return meta


def _first(row: Row, *keys: str) -> Any:
    """The first of `keys` present in the row (local copies and the Hub name fields differently)."""
    for k in keys:
        if k in row and row[k] is not None:
            return row[k]
    null = [k for k in keys if k in row]
    if null:  # present but null: not the same mistake as a field under another name
        raise ValueError(f"field {null[0]!r} is null; fill it in or drop the row")
    raise KeyError(f"none of the fields {list(keys)} is present (row has {sorted(row)})")


# ---------------------------------------------------------------- math

_AOPS = re.compile(r"(\d{4})_(AIME|AMC)_(\w+?)_Problems/Problem_(\d+)")


def _aops_id(url: str | None) -> str | None:
    """'.../2024_AIME_I_Problems/Problem_1' -> '2024-AIME-I-1'; AMC -> '2023-AMC12A-1'."""
    m = _AOPS.search(url or "")
    if not m:
        return None
    year, contest, part, num = m.groups()
    return f"{year}-AIME-{part}-{num}" if contest == "AIME" else f"{year}-AMC{part}-{num}"


def _math_answer(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))  # the Hub's amc23 stores 27.0 for 27
    text = str(raw).strip()
    if "####" in text:  # GSM8K on the Hub: the worked solution, then '#### 18'
        text = text.rsplit("####", 1)[1].strip()
    return text.replace(",", "") if re.fullmatch(r"-?[\d,]+(\.\d+)?", text) else text


def _math_problem(b: Benchmark, row: Row, index: int) -> Problem:
    question = str(_first(row, "problem", "question", "Problem"))
    rid = row.get("id")
    if not isinstance(rid, str) or not rid:
        rid = row.get("unique_id") or _aops_id(row.get("url"))
    if not rid and row.get("problem_idx") is not None:  # MathArena
        rid = f"{b.name}-{row['problem_idx']}"
    rid = rid or f"{b.name}-test-{index}"
    answer = _math_answer(_first(row, "answer", "Answer"))
    if not answer:
        raise ValueError("empty gold answer")
    solution = row.get("solution")
    if solution is None and "####" in str(row.get("answer", "")):
        solution = row["answer"]
    meta = _meta(b, row, ("subject", "level", "url", "year"), question=question)
    if solution:
        meta["solution"] = solution
    return Problem(
        id=str(rid),
        prompt=build_prompt(question, MATH_TEMPLATE),
        gold=answer,
        kind="math",
        source=b.name,
        meta=meta,
    )


def _define(
    kind: str,
    name: str,
    source: str,
    split: str,
    size: int,
    fmt: str,
    local: str,
    to_problem: Callable[[Benchmark, Row, int], Problem],
    config: str | None = None,
    template: str = "",
) -> Benchmark:
    """Register a benchmark of `kind` ("math" or "code"), version 1, with its metric."""
    metric = {
        "math": "pass@1 (math-verify equivalence of the last \\boxed{} answer)",
        "code": "pass@1 (every test passes in the sandbox)",
    }[kind]
    return register(
        Benchmark(
            name=name,
            version="1",
            kind=kind,
            source=source,
            hf_split=split,
            hf_config=config,
            size=size,
            metric=metric,
            answer_format=fmt,
            local_file=local,
            to_problem=to_problem,
            prompt_template=template,
            max_tokens=32768,
        )
    )


_math = partial(_define, "math", to_problem=_math_problem, template=MATH_TEMPLATE)


_math("gsm8k", "openai/gsm8k", "test", 1319, "integer", "gsm8k_test.jsonl", config="main")
_math("math500", "HuggingFaceH4/MATH-500", "test", 500, "LaTeX expression", "math500_test.jsonl")
_math("aime2024", "HuggingFaceH4/aime_2024", "train", 30, "integer 0-999", "aime2024.jsonl")
_math("aime2025", "math-ai/aime25", "test", 30, "integer 0-999", "aime2025.jsonl")
_math("aime2026", "MathArena/aime_2026", "train", 30, "integer 0-999", "aime2026.jsonl")
_math("amc2023", "math-ai/amc23", "test", 40, "number", "amc2023.jsonl")


# ---------------------------------------------------------------- code


def _as_list(value: Any, what: str) -> list:
    """Lists arrive as lists (local JSONL) or as JSON strings (several Hub datasets)."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list):
        raise TypeError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    # APPS stores a few stdio inputs/outputs as lists of lines.
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


def _humaneval_problem(b: Benchmark, row: Row, index: int) -> Problem:
    prompt, entry = str(row["prompt"]), str(row["entry_point"])
    gold = {"kind": "assert", "code": str(row["test"]), "entry_point": entry, "setup": ""}
    return Problem(
        id=str(row["task_id"]),
        prompt=FUNCTION_TEMPLATE.format(problem=prompt),
        gold=gold,
        kind="code",
        source=b.name,
        meta=_meta(
            b,
            row,
            (),
            question=prompt,
            reference_solution=prompt + str(row.get("canonical_solution", "")),
        ),
    )


def _mbpp_problem(b: Benchmark, row: Row, index: int) -> Problem:
    tests = [str(t) for t in _as_list(row["test_list"], "test_list")]
    if not tests:
        raise ValueError("test_list is empty")
    text = str(_first(row, "text", "prompt"))
    gold = {
        "kind": "assert",
        "code": "\n".join(tests),
        "entry_point": None,
        "setup": str(row.get("test_setup_code") or ""),
    }
    challenge = row.get("challenge_test_list")
    meta = _meta(b, row, (), question=text, reference_solution=str(row.get("code", "")))
    if challenge:
        meta["challenge_tests"] = _as_list(challenge, "challenge_test_list")
    return Problem(
        id=f"mbpp-{row['task_id']}",
        prompt=MBPP_TEMPLATE.format(problem=text, tests="\n".join(tests)),
        gold=gold,
        kind="code",
        source=b.name,
        meta=meta,
    )


def _cases(row: Row) -> list[dict[str, Any]]:
    """Test cases from any of: `tests` [{input, output}] (list or JSON), CodeContests'
    `public_tests` / `private_tests` {input: [...], output: [...]}, APPS `input_output`."""
    if "tests" in row and row["tests"] not in (None, ""):
        tests = row["tests"]
        if isinstance(tests, str):
            tests = json.loads(tests)
        if isinstance(tests, dict):  # {"inputs": [...], "outputs": [...]}
            return [
                {"input": i, "output": o}
                for i, o in zip(tests["inputs"], tests["outputs"], strict=True)
            ]
        return [{"input": t["input"], "output": t["output"]} for t in tests]
    if "public_tests" in row:  # deepmind/code_contests: public + private (not generated)
        out = []
        for key in ("public_tests", "private_tests"):
            t = row.get(key) or {"input": [], "output": []}
            out += [{"input": i, "output": o} for i, o in zip(t["input"], t["output"], strict=True)]
        return out
    if "input_output" in row:  # codeparrot/apps
        io = json.loads(row["input_output"]) if row["input_output"] else {}
        return [
            {"input": i, "output": o}
            for i, o in zip(io.get("inputs", []), io.get("outputs", []), strict=True)
        ]
    raise KeyError("no test cases: expected 'tests', 'public_tests' or 'input_output'")


def _stdio_problem(b: Benchmark, row: Row, index: int) -> Problem:
    text = str(_first(row, "problem", "question", "description"))
    rid = row.get("problem_id")
    rid = str(rid) if isinstance(rid, str) else f"{b.name}-test-{rid if rid is not None else index}"
    cases = _cases(row)
    if not cases:
        raise ValueError("no test cases")
    fn_name = row.get("fn_name")
    if fn_name is None and "input_output" in row and row["input_output"]:
        fn_name = json.loads(row["input_output"]).get("fn_name")
    is_call = row.get("io_mode") == "call" or bool(fn_name)
    starter = str(row.get("starter_code") or "")
    if is_call:
        gold: dict[str, Any] = {"kind": "call", "fn_name": str(fn_name), "cases": cases}
        prompt = CALL_TEMPLATE.format(problem=text, starter=starter)
    else:
        gold = {
            "kind": "stdio",
            "cases": [{"input": _text(c["input"]), "output": _text(c["output"])} for c in cases],
        }
        prompt = STDIO_TEMPLATE.format(problem=text)
    refs = row.get("reference_solutions", row.get("solutions"))
    meta = _meta(b, row, ("difficulty", "url", "name"), question=text)
    if refs:
        meta["reference_solutions"] = _as_list(refs, "reference solutions")
    return Problem(id=rid, prompt=prompt, gold=gold, kind="code", source=b.name, meta=meta)


_code = partial(_define, "code", template=STDIO_TEMPLATE)


_code("humaneval", "openai/openai_humaneval", "test", 164, "Python function", "humaneval.jsonl",
      _humaneval_problem, template=FUNCTION_TEMPLATE)  # fmt: skip
_code("mbpp", "google-research-datasets/mbpp", "test", 500, "Python function",
      "mbpp_test.jsonl", _mbpp_problem, config="full", template=MBPP_TEMPLATE)  # fmt: skip
_code("codeforces", "agentica-org/DeepCoder-Preview-Dataset", "test", 408, "stdio program",
      "stdio_codeforces_test.jsonl", _stdio_problem, config="codeforces")  # fmt: skip
_code("code_contests", "deepmind/code_contests", "test", 165, "stdio program",
      "stdio_code_contests_test.jsonl", _stdio_problem)  # fmt: skip
_code("apps", "codeparrot/apps", "test", 5000, "stdio program or function",
      "stdio_apps_coderl_sample.jsonl", _stdio_problem,
      template=STDIO_TEMPLATE + "\n(call-based: " + CALL_TEMPLATE + ")")  # fmt: skip


# ---------------------------------------------------------------- loading


def get_benchmark(name: str) -> Benchmark:
    """The registered benchmark called `name` (`ConfigError` listing the known names otherwise)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown benchmark {name!r}; known: {', '.join(sorted(REGISTRY))}"
        ) from None


def list_benchmarks() -> list[str]:
    """Names of all registered benchmarks."""
    return sorted(REGISTRY)


def _read_jsonl(path: Path) -> Iterator[Row]:
    for _, row in iter_jsonl(path):
        yield row


def _load_hub(b: Benchmark) -> Iterator[Row]:
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a base dependency
        raise ImportError(
            f"loading {b.name!r} from the Hub needs `datasets` (pip install datasets), "
            "or pass a local JSONL file: load_benchmark(name, path=...)"
        ) from e
    try:
        ds = datasets.load_dataset(b.source, b.hf_config, split=b.hf_split)
    except Exception as e:
        raise BenchmarkUnavailable(
            f"could not load benchmark {b.name!r} from the Hugging Face Hub "
            f"({b.source}, config={b.hf_config}, split={b.hf_split}): {type(e).__name__}: {e}. "
            f"Pass a local JSONL file instead: load_benchmark({b.name!r}, path='.../{b.local_file}')"
        ) from e
    yield from ds


def load_benchmark(
    name: str,
    path: str | Path | None = None,
    limit: int | None = None,
    window: tuple[str | None, str | None] | None = None,
) -> list[Problem]:
    """Load a registered benchmark as `Problem`s, in the source's order.

    `path` is a local JSONL file, or a folder holding the benchmark's usual file name
    (`Benchmark.local_file`, as in ../shared/benchmarks). Without a path, the public dataset
    is read with `datasets.load_dataset`; when that fails (offline, gated) a
    `BenchmarkUnavailable` error says to pass a local file. `limit` keeps the first rows.
    A bad row raises ValueError naming the file and row; duplicate problem ids are refused.
    `window` (start, end) keeps the rows whose `contest_date` lies in [start, end) (ISO
    dates; either end may be None): benchmarks that date their problems (LiveCodeBench) only.
    """
    b = get_benchmark(name)
    if window is not None and not b.dated:
        raise ConfigError(f"benchmark {name!r} does not date its problems: no date window")
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be >= 0, got {limit}")
    if b.rows is not None:
        origin, rows = (str(path) if path is not None else b.source), b.rows(b, _path(path))
    elif path is not None:
        p = Path(path)
        if p.is_dir():
            p = p / b.local_file
        if not p.is_file():
            raise InputError(f"benchmark {name!r}: no such file {p}")
        origin, rows = str(p), _read_jsonl(p)
    else:
        origin, rows = b.source, _load_hub(b)
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if limit is not None and len(problems) >= limit:
            break
        if window is not None and not _in_window(row, window):
            continue
        try:
            problem = b.to_problem(b, dict(row), i)
        except (KeyError, TypeError, ValueError) as e:
            what = "" if isinstance(e, InputError) else f"{type(e).__name__}: "
            raise InputError(f"{origin}: row {i + 1} of {name!r}: {what}{e}") from e
        if problem.id in seen:
            raise InputError(
                f"{origin}: row {i + 1} of {name!r}: duplicate problem id {problem.id!r}"
            )
        seen.add(problem.id)
        problems.append(problem)
    if not problems:
        raise InputError(f"benchmark {name!r} from {origin}: no problems")
    logger.info("loaded %d problems of %s from %s", len(problems), name, origin)
    return problems


def _in_window(row: Row, window: tuple[str | None, str | None]) -> bool:
    day = str(row.get("contest_date") or "")[:10]
    start, end = window
    return bool(day) and (start is None or day >= start) and (end is None or day < end)


def _path(path: str | Path | None) -> Path | None:
    return None if path is None else Path(path)
