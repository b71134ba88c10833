"""Benchmark registry: row counts and field mapping on the real files, Hub-shaped rows."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import reasoning_distill.eval.benchmarks as bm
from reasoning_distill.eval.benchmarks import get_benchmark, list_benchmarks, load_benchmark

from reasoning_distill.errors import InputError

COUNTS = {
    "gsm8k": 1319,
    "math500": 500,
    "aime2024": 30,
    "aime2025": 30,
    "amc2023": 40,
    "humaneval": 164,
    "mbpp": 500,
    "codeforces": 408,
    "code_contests": 165,
    "apps": 5,  # the local copy is a 5-problem sample of APPS
}


LCB = {f"livecodebench_v{i}" for i in range(1, 7)} | {"livecodebench", "livecodebench_r1"}
OWN_MODULES = {**{n: "livecodebench" for n in LCB}, "toy_math": "toy_benchmarks",
               "toy_code": "toy_benchmarks"}  # fmt: skip


def test_registry_front_matter() -> None:
    import importlib

    assert set(list_benchmarks()) == set(COUNTS) | {"aime2026"} | set(OWN_MODULES)
    for name in list_benchmarks():
        b = get_benchmark(name)
        assert b.name == name and b.version and b.source and b.metric and b.answer_format
        assert b.kind in ("math", "code") and b.prompt_template and b.max_tokens > 0
        if name in OWN_MODULES:
            # Benchmarks with their own module state source, size, prompt, scoring there.
            doc = importlib.import_module(f"reasoning_distill.eval.{OWN_MODULES[name]}").__doc__
            assert name.split("_v")[0] in doc and "Prompt" in doc and "Source" in doc
        else:
            # The module's front-matter table names every benchmark with its source.
            assert f"| {name} | {b.version} | {b.source} " in bm.__doc__
    with pytest.raises(ValueError, match="unknown benchmark 'gsm9k'"):
        get_benchmark("gsm9k")


def test_toy_version_follows_the_generator() -> None:
    from reasoning_distill.toy.tasks import TASKS_VERSION

    assert get_benchmark("toy_math").version == f"toy-{TASKS_VERSION}"


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_row_counts_and_shapes(name: str, shared_benchmarks: Path) -> None:
    problems = load_benchmark(name, shared_benchmarks)
    assert len(problems) == COUNTS[name]
    assert len({p.id for p in problems}) == len(problems)
    b = get_benchmark(name)
    for p in problems:
        assert p.kind == b.kind and p.source == name
        assert p.meta["benchmark"] == name and p.meta["version"] == b.version
        assert p.meta["question"] and p.meta["question"] in p.prompt
        if b.kind == "math":
            assert isinstance(p.gold, str) and p.gold.strip()
            assert "\\boxed{}" in p.prompt
        else:
            assert p.gold["kind"] in ("assert", "stdio", "call")
            if p.gold["kind"] == "assert":
                assert set(p.gold) == {"kind", "code", "entry_point", "setup"}
                assert "assert" in p.gold["code"]
            else:
                assert p.gold["cases"] and all(
                    set(c) == {"input", "output"} for c in p.gold["cases"]
                )


def test_math_field_mapping(shared_benchmarks: Path) -> None:
    gsm = load_benchmark("gsm8k", shared_benchmarks / "gsm8k_test.jsonl", limit=3)
    assert [p.id for p in gsm] == ["gsm8k-test-0", "gsm8k-test-1", "gsm8k-test-2"]
    assert gsm[0].gold == "18" and gsm[0].prompt.startswith("Janet")
    assert "#### 18" in gsm[0].meta["solution"]
    m5 = load_benchmark("math500", shared_benchmarks, limit=1)[0]
    assert m5.id == "test/precalculus/807.json"
    assert m5.gold == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert m5.meta["subject"] == "Precalculus" and m5.meta["level"] == 2
    aime = load_benchmark("aime2024", shared_benchmarks) + load_benchmark(
        "aime2025", shared_benchmarks
    )
    assert len(aime) == 60 and all(0 <= int(p.gold) <= 999 for p in aime)
    assert aime[0].id == "2024-AIME-I-1" and aime[0].gold == "204"
    amc = load_benchmark("amc2023", shared_benchmarks)
    assert amc[0].id == "2023-AMC12A-1" and amc[0].gold == "27"


def test_code_field_mapping(shared_benchmarks: Path) -> None:
    he = load_benchmark("humaneval", shared_benchmarks, limit=1)[0]
    assert he.id == "HumanEval/0"
    assert (
        he.gold["entry_point"] == "has_close_elements" and "def check(candidate)" in he.gold["code"]
    )
    assert "def has_close_elements" in he.prompt
    assert he.meta["reference_solution"].startswith("from typing import List")
    mbpp = {p.id: p for p in load_benchmark("mbpp", shared_benchmarks)}
    first = mbpp["mbpp-11"]
    assert first.gold["entry_point"] is None and first.gold["code"].count("assert") == 3
    assert 'assert remove_Occ("hello","l") == "heo"' in first.prompt  # the name is given
    assert "root = Node(1)" in mbpp["mbpp-367"].gold["setup"]
    assert (
        sum(len(p.gold["cases"]) for p in load_benchmark("code_contests", shared_benchmarks))
        == 1837
    )
    apps = load_benchmark("apps", shared_benchmarks)
    kinds = [p.gold["kind"] for p in apps]
    assert kinds == ["stdio", "stdio", "stdio", "call", "call"]
    call = apps[3].gold
    assert call["fn_name"] == "findKthPositive" and call["cases"][0] == {
        "input": [[2, 3, 4, 7, 11], 5],
        "output": 9,
    }
    assert "class Solution" in apps[3].prompt and apps[0].meta["reference_solutions"]


def test_hub_shaped_rows_through_datasets(tmp_path: Path) -> None:
    """The Hub path is real `datasets.load_dataset`; here it reads a local folder laid out
    like a Hub repo, with rows in the Hub's field names (no network needed)."""
    cases = {
        "gsm8k": [{"question": "2+2?", "answer": "Add them.\n#### 1,234"}],
        "aime2024": [
            {
                "id": 60,
                "problem": "Find x.",
                "solution": "...",
                "answer": "204",
                "url": "https://artofproblemsolving.com/wiki/index.php/2024_AIME_II_Problems/Problem_7",
                "year": "2024",
            }
        ],
        "amc2023": [{"id": 0, "question": "How many?", "answer": 27.0, "url": ""}],
        # MathArena/aime_2026's fields
        "aime2026": [{"problem_idx": 3, "problem": "Find the remainder.", "answer": "42"}],
        "codeforces": [
            {"problem": "Print a+b.", "tests": json.dumps([{"input": "1 2\n", "output": "3\n"}])}
        ],
        "code_contests": [
            {
                "name": "A. Sum",
                "description": "Print a+b.",
                "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
                "private_tests": {"input": ["5 5\n"], "output": ["10\n"]},
            }
        ],
        "apps": [
            {
                "problem_id": 4000,
                "question": "Return n+1.",
                "solutions": json.dumps(["def f(n): return n+1"]),
                "input_output": json.dumps({"fn_name": "f", "inputs": [[1]], "outputs": [2]}),
                "starter_code": "def f(n):\n",
                "difficulty": "introductory",
                "url": "",
            }
        ],
    }
    got = {}
    for name, rows in cases.items():
        folder = tmp_path / name / "data"
        folder.mkdir(parents=True)
        spec = get_benchmark(name)
        (folder / f"{spec.hf_split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        local = dataclasses.replace(spec, source=str(tmp_path / name), hf_config=None)
        got[name] = [spec.to_problem(spec, dict(r), i) for i, r in enumerate(bm._load_hub(local))]
    assert got["gsm8k"][0].gold == "1234" and got["gsm8k"][0].id == "gsm8k-test-0"
    assert got["aime2024"][0].id == "2024-AIME-II-7"
    assert got["amc2023"][0].gold == "27"
    a26 = got["aime2026"][0]
    assert a26.id == "aime2026-3" and a26.gold == "42" and "\\boxed{}" in a26.prompt
    assert got["codeforces"][0].gold == {
        "kind": "stdio",
        "cases": [{"input": "1 2\n", "output": "3\n"}],
    }
    cc = got["code_contests"][0]
    assert [c["output"] for c in cc.gold["cases"]] == ["3\n", "10\n"] and cc.meta[
        "name"
    ] == "A. Sum"
    ap = got["apps"][0]
    assert ap.id == "apps-test-4000"
    assert ap.gold == {"kind": "call", "fn_name": "f", "cases": [{"input": [1], "output": 2}]}


def test_hub_unreachable_says_pass_a_local_file(tmp_path: Path) -> None:
    # A fresh process so the offline switch is read at import; an empty HF_HOME so no cache.
    code = (
        "from reasoning_distill.eval.benchmarks import load_benchmark, BenchmarkUnavailable\n"
        "try:\n    load_benchmark('gsm8k')\nexcept BenchmarkUnavailable as e:\n    print(e)\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert "openai/gsm8k" in out.stdout and "Pass a local JSONL file" in out.stdout, out.stderr


def test_bad_local_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q", "answer": "1"}\n{not json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not valid JSON"):
        load_benchmark("gsm8k", bad)
    bad.write_text('{"id": "a", "question": "q"}\n')
    with pytest.raises(ValueError, match=r"row 1 of 'gsm8k'.*answer"):
        load_benchmark("gsm8k", bad)
    bad.write_text('{"id": "a", "question": "q", "answer": "1"}\n' * 2)
    with pytest.raises(ValueError, match="duplicate problem id 'a'"):
        load_benchmark("gsm8k", bad)
    with pytest.raises(InputError, match="no such file .*gsm8k_test.jsonl"):
        load_benchmark("gsm8k", tmp_path)
    assert len(load_benchmark("gsm8k", bad, limit=1)) == 1
