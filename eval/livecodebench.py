"""LiveCodeBench code generation (`livecodebench/code_generation_lite`), releases and date windows.

- Source: https://huggingface.co/datasets/livecodebench/code_generation_lite, or a local copy:
  one of its JSONL files, or the folder holding them. Release `release_vN` is the files
  `test.jsonl`, `test2.jsonl`, ..., `testN.jsonl` together (each release adds one file).
- Registered names: `livecodebench` (release_v6, every problem), `livecodebench_v1` ...
  `livecodebench_v6` (that release), `livecodebench_r1` (release_v5, contest dates
  2024-08-01 to 2025-02-01, the window DeepSeek-R1 and open-r1 report). Any other window:
  `rdistill eval --date-window 2024-10-01:2025-01-01`, or `load_window` for any release.
- Size: 400 (v1), 511, 612, 713, 880, 1055 (v6) problems before the date window.
- Prompt: LiveCodeBench's own generation prompt; functional (LeetCode) problems add their
  starter code, stdin problems ask for a program reading stdin.
- Tests: the public tests (`public_test_cases`, JSON) and the private ones
  (`private_test_cases`: base64 of zlib of a pickle of a JSON string). Pickles are decoded by
  an unpickler that resolves no global at all, so only plain data (str, bytes, numbers,
  lists, dicts, tuples, None, booleans) can come out: a pickle that names a function or class
  (the way a malicious pickle runs code on load) is refused with `InputError`, and nothing runs.
- Kinds: `stdin` tests become `{"kind": "stdio"}` gold; `functional` tests become
  `{"kind": "call", "fn_name": metadata.func_name}` with each input line parsed as one JSON
  argument and the output as JSON.
- Scoring: pass@1, every public and private test must pass in the sandbox. Version 1.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from reasoning_distill.eval.registry import Benchmark, BenchmarkUnavailable, Row, register

from reasoning_distill.errors import InputError
from reasoning_distill.jsonl import iter_jsonl
from reasoning_distill.records import Problem

REPO = "livecodebench/code_generation_lite"
RELEASES = {f"release_v{i}": i for i in range(1, 7)}
_FILES = ["test.jsonl"] + [f"test{i}.jsonl" for i in range(2, 7)]

STDIN_PROMPT = (
    "You will be given a question (problem specification) and will generate a correct Python "
    "program that matches the specification and passes all tests.\n\nQuestion: {question}\n\n"
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not "
    "directly test on the sample inputs). Enclose your code within delimiters as follows. "
    "Ensure that when the python program runs, it reads the inputs, runs the algorithm and "
    "writes output to STDOUT.\n```python\n# YOUR CODE HERE\n```\n"
)
FUNCTIONAL_PROMPT = (
    "You will be given a question (problem specification) and will generate a correct Python "
    "program that matches the specification and passes all tests.\n\nQuestion: {question}\n\n"
    "You will use the following starter code to write the solution to the problem and enclose "
    "your code within delimiters.\n```python\n{starter_code}\n```\n"
)
_MAX_DECODED = 1 << 30


class _Refused(pickle.UnpicklingError):
    """The pickle asked for something other than plain data."""


class _PlainDataUnpickler(pickle.Unpickler):
    """Admits only plain data: every global lookup (functions, classes) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise _Refused(
            f"the pickle asks for {module}.{name}; only plain data (strings, numbers, lists, "
            "dicts) is accepted"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("the pickle uses persistent ids; only plain data is accepted")


def decode_private_tests(text: Any) -> list[dict[str, Any]]:
    """The private test cases of one row: base64 -> zlib -> restricted pickle -> JSON list."""
    if isinstance(text, list):
        return text
    if not isinstance(text, str) or not text.strip():
        return []
    if text.lstrip().startswith("["):  # some copies store them as plain JSON
        return _as_cases(json.loads(text))
    try:
        raw = zlib.decompressobj().decompress(base64.b64decode(text, validate=True), _MAX_DECODED)
    except (binascii.Error, zlib.error, ValueError) as e:
        raise InputError(f"private_test_cases: not base64 of zlib data ({e})") from None
    try:
        obj = _PlainDataUnpickler(io.BytesIO(raw)).load()
    except _Refused as e:
        raise InputError(f"private_test_cases: refused to decode: {e}") from None
    except Exception as e:  # truncated or malformed pickle streams raise many types
        raise InputError(f"private_test_cases: not a valid pickle ({type(e).__name__})") from None
    if isinstance(obj, bytes):
        obj = obj.decode("utf-8")
    if isinstance(obj, str):
        obj = json.loads(obj)
    return _as_cases(obj)


def _as_cases(obj: Any) -> list[dict[str, Any]]:
    if not isinstance(obj, list) or not all(
        isinstance(c, dict) and isinstance(c.get("input"), str) and isinstance(c.get("output"), str)
        for c in obj
    ):
        raise InputError("test cases must be a list of {input, output, testtype} with strings")
    return obj


def _functional_case(case: dict[str, Any]) -> dict[str, Any]:
    args = [json.loads(line) for line in case["input"].split("\n") if line.strip()]
    return {"input": args, "output": json.loads(case["output"])}


def _problem(b: Benchmark, row: Row, index: int) -> Problem:
    question = str(row["question_content"])
    public = row.get("public_test_cases") or "[]"
    public = json.loads(public) if isinstance(public, str) else public
    cases = _as_cases(public) + decode_private_tests(row.get("private_test_cases"))
    if not cases:
        raise ValueError("no test cases")
    meta_raw = row.get("metadata") or "{}"
    meta_raw = json.loads(meta_raw) if isinstance(meta_raw, str) else meta_raw
    starter = str(row.get("starter_code") or "")
    kinds = {c.get("testtype", "stdin") for c in cases}
    if kinds == {"functional"}:
        fn = meta_raw.get("func_name")
        if not fn:
            raise ValueError("functional tests but metadata has no func_name")
        gold: dict[str, Any] = {
            "kind": "call",
            "fn_name": str(fn),
            "cases": [_functional_case(c) for c in cases],
        }
        prompt = FUNCTIONAL_PROMPT.format(question=question, starter_code=starter)
    elif kinds == {"stdin"}:
        gold = {
            "kind": "stdio",
            "cases": [{"input": c["input"], "output": c["output"]} for c in cases],
        }
        prompt = STDIN_PROMPT.format(question=question)
    else:
        raise ValueError(f"mixed test types {sorted(kinds)}")
    meta = {
        "benchmark": b.name,
        "version": b.version,
        "question": question,
        "title": row.get("question_title"),
        "platform": row.get("platform"),
        "difficulty": row.get("difficulty"),
        "contest_date": str(row.get("contest_date") or ""),
        "test_kind": next(iter(kinds)),
    }
    return Problem(id=str(row["question_id"]), prompt=prompt, gold=gold, kind="code",
                   source=b.name, meta=meta)  # fmt: skip


def _day(value: Any) -> date | None:
    text = str(value or "")[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _release_files(release: str, path: Path | None) -> Iterator[tuple[str, Iterator[Row]]]:
    count = RELEASES[release]
    if path is not None and path.is_file():
        yield str(path), (row for _, row in iter_jsonl(path))
        return
    if path is not None:
        if not path.is_dir():
            raise InputError(f"LiveCodeBench: no such file or folder {path}")
        found = [path / f for f in _FILES[:count] if (path / f).is_file()]
        if not found:
            raise InputError(f"LiveCodeBench: {path} holds none of {_FILES[:count]}")
        for f in found:
            yield str(f), (row for _, row in iter_jsonl(f))
        return
    try:
        from huggingface_hub import hf_hub_download

        files = [hf_hub_download(REPO, f, repo_type="dataset") for f in _FILES[:count]]
    except Exception as e:
        raise BenchmarkUnavailable(
            f"could not load LiveCodeBench {release} from the Hub ({REPO}): {type(e).__name__}. "
            "Download its test*.jsonl files where there is a network and pass the folder: "
            "--benchmark livecodebench=DIR"
        ) from e
    for f in files:
        yield f, (row for _, row in iter_jsonl(Path(f)))


def load_window(
    release: str, path: Path | None, start: str | None = None, end: str | None = None
) -> Iterator[Row]:
    """Rows of `release` (local file/folder or the Hub) with contest_date in [start, end)."""
    if release not in RELEASES:
        raise InputError(f"unknown LiveCodeBench release {release!r}; known: {sorted(RELEASES)}")
    lo, hi = _day(start), _day(end)
    for _origin, rows in _release_files(release, path):
        for row in rows:
            day = _day(row.get("contest_date"))
            if (lo and (day is None or day < lo)) or (hi and (day is None or day >= hi)):
                continue
            yield row


def _lcb(name: str, release: str, size: int, start: str | None = None, end: str | None = None):
    window = f", contest dates {start} to {end}" if start or end else ""
    return register(
        Benchmark(
            name=name,
            version="1",
            kind="code",
            source=f"{REPO} ({release}{window})",
            hf_split="test",
            size=size,
            metric="pass@1 (every public and private test passes in the sandbox)",
            answer_format="stdin program, or a `class Solution` method (functional tests)",
            local_file="test.jsonl",
            to_problem=_problem,
            prompt_template=STDIN_PROMPT + "\n(functional: " + FUNCTIONAL_PROMPT + ")",
            max_tokens=32768,
            rows=lambda b, path: load_window(release, path, start, end),
            dated=True,
        )
    )


_SIZES = {1: 400, 2: 511, 3: 612, 4: 713, 5: 880, 6: 1055}
_lcb("livecodebench", "release_v6", _SIZES[6])
for _i, _n in _SIZES.items():
    _lcb(f"livecodebench_v{_i}", f"release_v{_i}", _n)
_lcb("livecodebench_r1", "release_v5", 279, "2024-08-01", "2025-02-01")
