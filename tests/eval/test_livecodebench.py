"""LiveCodeBench from local files in code_generation_lite's published format; safe decoding."""

from __future__ import annotations

import base64
import json
import os
import pickle
import zlib
from pathlib import Path

import pytest
from reasoning_distill.eval.benchmarks import load_benchmark
from reasoning_distill.eval.livecodebench import decode_private_tests, load_window

from reasoning_distill.errors import InputError


def _private(cases: list[dict]) -> str:
    """How code_generation_lite stores private tests: base64(zlib(pickle(json string)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()


def _stdin_row(qid: str, date: str) -> dict:
    return {
        "question_title": f"Sum {qid}",
        "question_content": "Read two integers and print their sum.",
        "platform": "atcoder",
        "question_id": qid,
        "contest_id": "abc001",
        "contest_date": f"{date}T00:00:00",
        "starter_code": "",
        "difficulty": "easy",
        "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
        "private_test_cases": _private([{"input": "5 7\n", "output": "12\n", "testtype": "stdin"}]),
        "metadata": "{}",
    }


def _functional_row(qid: str, date: str) -> dict:
    return {
        "question_title": "Two sum count",
        "question_content": "Return the sum of nums plus k.",
        "platform": "leetcode",
        "question_id": qid,
        "contest_id": "weekly-400",
        "contest_date": f"{date}T00:00:00",
        "starter_code": "class Solution:\n    def addAll(self, nums: List[int], k: int) -> int:\n        ",
        "difficulty": "medium",
        "public_test_cases": json.dumps(
            [{"input": "[1, 2, 3]\n4", "output": "10", "testtype": "functional"}]
        ),
        "private_test_cases": _private(
            [{"input": "[]\n0", "output": "0", "testtype": "functional"}]
        ),
        "metadata": json.dumps({"func_name": "addAll"}),
    }


@pytest.fixture
def lcb_dir(tmp_path: Path) -> Path:
    d = tmp_path / "code_generation_lite"
    d.mkdir()
    (d / "test.jsonl").write_text(
        json.dumps(_stdin_row("abc001_a", "2023-06-01")) + "\n"
        + json.dumps(_functional_row("3001", "2024-09-15")) + "\n"
    )  # fmt: skip
    (d / "test2.jsonl").write_text(json.dumps(_stdin_row("abc300_b", "2024-10-01")) + "\n")
    return d


def test_releases_and_date_window(lcb_dir: Path) -> None:
    assert [p.id for p in load_benchmark("livecodebench_v1", lcb_dir)] == ["abc001_a", "3001"]
    assert len(load_benchmark("livecodebench_v2", lcb_dir)) == 3
    window = load_benchmark("livecodebench_r1", lcb_dir)  # 2024-08-01 to 2025-02-01
    assert [p.id for p in window] == ["3001", "abc300_b"]
    rows = list(load_window("release_v2", lcb_dir, "2024-09-20", "2024-12-31"))
    assert [r["question_id"] for r in rows] == ["abc300_b"]
    single = load_benchmark("livecodebench", lcb_dir / "test2.jsonl")
    assert [p.id for p in single] == ["abc300_b"]
    custom = load_benchmark("livecodebench_v2", lcb_dir, window=("2024-01-01", "2024-10-01"))
    assert [p.id for p in custom] == ["3001"]
    with pytest.raises(InputError, match="no problems"):
        load_benchmark("livecodebench_v2", lcb_dir, window=("2030-01-01", None))
    with pytest.raises(ValueError, match="does not date its problems"):
        load_benchmark("gsm8k", lcb_dir, window=("2024-01-01", None))


def test_both_kinds_map_to_verifiable_gold(lcb_dir: Path) -> None:
    from reasoning_distill.verifiers import verify_code_batch

    stdin, functional = load_benchmark("livecodebench_v1", lcb_dir)
    assert stdin.gold == {
        "kind": "stdio",
        "cases": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 7\n", "output": "12\n"}],
    }
    assert "Read the inputs from stdin" in stdin.prompt and stdin.meta["difficulty"] == "easy"
    assert functional.gold["kind"] == "call" and functional.gold["fn_name"] == "addAll"
    assert functional.gold["cases"] == [
        {"input": [[1, 2, 3], 4], "output": 10},
        {"input": [[], 0], "output": 0},
    ]
    assert "class Solution" in functional.prompt
    right_stdin = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    wrong_stdin = "```python\na, b = map(int, input().split())\nprint(a - b)\n```"
    right_fn = (
        "```python\nclass Solution:\n    def addAll(self, nums, k):\n"
        "        return sum(nums) + k\n```"
    )
    wrong_fn = "```python\nclass Solution:\n    def addAll(self, nums, k):\n        return k\n```"
    verdicts = verify_code_batch(
        [right_stdin, wrong_stdin, right_fn, wrong_fn],
        [stdin.gold, stdin.gold, functional.gold, functional.gold],
    )
    assert [v.correct for v in verdicts] == [True, False, True, False]


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = base64.b64encode(zlib.compress(pickle.dumps(_RunsCode(marker)))).decode()
    with pytest.raises(
        InputError, match=r"refused to decode: the pickle asks for (posix|os)\.system"
    ):
        decode_private_tests(evil)
    assert not marker.exists()
    # Through the loader: the error names the file and the row, and still nothing ran.
    row = _stdin_row("abc001_a", "2023-06-01")
    row["private_test_cases"] = evil
    (tmp_path / "test.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(
        InputError, match=r"test.jsonl: row 1 of 'livecodebench': .*(posix|os)\.system"
    ):
        load_benchmark("livecodebench", tmp_path / "test.jsonl")
    assert not marker.exists()


@pytest.mark.parametrize(
    "text,match",
    [
        ("not base64 !!", "not base64 of zlib"),
        (base64.b64encode(b"plain bytes").decode(), "not base64 of zlib"),
        (base64.b64encode(zlib.compress(b"\x80\x04junk")).decode(), "not a valid pickle"),
        (base64.b64encode(zlib.compress(pickle.dumps(json.dumps([1, 2])))).decode(), "list of"),
    ],
)
def test_malformed_private_tests(text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        decode_private_tests(text)


def test_plain_json_private_tests_are_read() -> None:
    cases = [{"input": "1\n", "output": "1\n", "testtype": "stdin"}]
    assert decode_private_tests(json.dumps(cases)) == cases
    assert decode_private_tests("") == []
