"""The gap report and the scoring against hand-worked golden values (golden/gap_small.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from reasoning_distill.eval.gap import ManifestMismatch, build_gap
from reasoning_distill.eval.manifest import compare_manifests
from reasoning_distill.eval.scoring import benchmark_metrics, math_equivalence

GOLDEN = json.loads((Path(__file__).parent / "golden" / "gap_small.json").read_text())
MANIFEST = {
    "engine": {"name": "hf", "version": "transformers 5.19.0", "options": {}},
    "sampling": {"n": 2, "temperature": 0.6, "top_p": 0.95, "seed": 1},
    "verifier": {"version": "v1"},
    "software": {"math-verify": "0.9.0", "torch": "2.13.0"},
    "chat_template": {"sha256": "a"},
    "benchmarks": {"b": {"id": "b", "version": "1", "data_sha256": "d", "n_problems": 8,
                         "max_tokens": 64, "prompt_template": {"sha256": "p"}}},
}  # fmt: skip


def _envelope(name: str, correct: dict, tokens: dict | None = None, manifest=None) -> dict:
    problems = [
        {
            "id": pid,
            "correct": c,
            "tokens": [tokens[pid]] * len(c) if tokens else [5] * len(c),
            "finish": ["stop"] * len(c),
            "meta": {},
        }
        for pid, c in correct.items()
    ]
    return {
        "model": {"name": name},
        "manifest": manifest or copy.deepcopy(MANIFEST),
        "benchmarks": {"b": {"problems": problems}},
    }


@pytest.fixture(scope="module")
def gap() -> dict:
    teacher = _envelope("teacher", GOLDEN["teacher"], GOLDEN["teacher_tokens"])
    return build_gap(teacher, {"student": _envelope("student", GOLDEN["student"])})


def test_headline_numbers(gap) -> None:
    want = GOLDEN["expected"]
    g = gap["benchmarks"]["b"]["student"]
    assert g["teacher"]["pass@1"] == pytest.approx(want["teacher_pass@1"], abs=1e-12)
    assert g["student"]["pass@1"] == pytest.approx(want["student_pass@1"], abs=1e-12)
    assert g["recovery"] == pytest.approx(want["recovery"], abs=1e-12)
    assert g["difference"] == pytest.approx(want["difference"], abs=1e-12)
    # The t quantile is a series approximation: good to about 1e-3 at 7 degrees of freedom.
    assert g["difference_ci95"] == pytest.approx(want["difference_ci95"], abs=2e-3)
    lo, hi = g["recovery_ci95"]
    assert lo <= want["recovery"] <= hi
    assert g["problem_table"] == want["problem_table"]


def test_gap_by_difficulty_and_length(gap) -> None:
    g = gap["benchmarks"]["b"]["student"]
    assert g["by_difficulty"]["basis"] == "teacher pass-rate band"
    got = [
        {k: r[k] for k in ("group", "n_problems", "teacher_pass@1", "student_pass@1", "recovery")}
        for r in g["by_difficulty"]["rows"]
    ]
    assert got == GOLDEN["expected"]["by_difficulty"]
    rows = g["by_trace_length"]["rows"]
    assert [
        {k: r[k] for k in ("n_problems", "teacher_pass@1", "student_pass@1")} for r in rows
    ] == GOLDEN["expected"]["by_trace_length"]
    assert rows[0]["group"].startswith("Q1: 10-20 tokens")


def test_level_is_the_difficulty_when_problems_have_one() -> None:
    t = _envelope("teacher", GOLDEN["teacher"])
    s = _envelope("student", GOLDEN["student"])
    for env in (t, s):
        for i, p in enumerate(env["benchmarks"]["b"]["problems"]):
            p["meta"] = {"level": f"Level {1 + i % 2}"}
    g = build_gap(t, {"student": s})["benchmarks"]["b"]["student"]
    assert g["by_difficulty"]["basis"] == "problem level"
    rows = {r["group"]: r for r in g["by_difficulty"]["rows"]}
    # Level 1 = p1 p3 p5 p7 (teacher 1, 0, 1, 0 -> .5; student .5 .5 .5 .5 -> .5)
    assert rows["Level 1"]["teacher_pass@1"] == 0.5 and rows["Level 1"]["student_pass@1"] == 0.5


def test_pass_at_k_and_majority_golden() -> None:
    want = GOLDEN["expected"]
    t = _envelope("teacher", GOLDEN["teacher"])["benchmarks"]["b"]["problems"]
    m, _ = benchmark_metrics("b", "code", t, 2)
    assert m["pass@2"]["value"] == pytest.approx(want["teacher_pass@2"], abs=1e-12)
    sc = GOLDEN["scoring"]
    problems = [
        {"id": q, "correct": sc["correct"][q], "answers": sc["answers"][q], "tokens": [3, 4, 5],
         "finish": ["stop", "stop", "length"]}
        for q in sc["answers"]
    ]  # fmt: skip
    metrics, _ = benchmark_metrics("b", "math", problems, 3, math_equivalence(workers=1))
    for k in (1, 2, 3):
        assert metrics[f"maj@{k}"]["value"] == pytest.approx(sc["expected"][f"maj@{k}"])
        assert metrics[f"maj@{k}"]["ties"] == sc["expected"][f"maj@{k}_ties"]
        assert "earliest" in metrics[f"maj@{k}"]["tie_rule"]
    length = metrics["length"]
    assert length["all"]["mean"] == 4.0 and length["all"]["p50"] == 4 and length["all"]["p95"] == 5
    assert length["all"]["truncation_rate"] == pytest.approx(4 / 12)
    # correct samples: q1 #0 #1 (3, 4), q2 #1 #2 (4, 5), q3 #1 (4): mean 4, one truncated
    assert length["correct"]["samples"] == 5 and length["correct"]["mean"] == 4.0
    assert length["correct"]["truncation_rate"] == pytest.approx(1 / 5)


def test_small_n_warns_with_the_interval_width() -> None:
    problems = [{"id": f"a{i}", "correct": [i % 3 == 0], "tokens": [1], "finish": ["stop"]}
                for i in range(30)]  # fmt: skip
    _, warnings = benchmark_metrics("aime2025", "code", problems, 1)
    assert len(warnings) == 1
    assert "n=1" in warnings[0] and "wide" in warnings[0] and "n=64" in warnings[0]
    _, none = benchmark_metrics("gsm8k", "code", problems, 1)
    assert none == []


@pytest.mark.parametrize(
    "path,value,named",
    [
        (("sampling", "temperature"), 1.0, "sampling.temperature"),
        (("sampling", "n"), 4, "sampling.n"),
        (("engine", "options"), {"tensor_parallel_size": 2}, "engine.options.tensor_parallel_size"),
        (("engine", "options"), {"dtype": "bfloat16"}, "engine.options.dtype"),
        (("engine", "version"), "vllm 0.33.0", "engine.version"),
        (("verifier", "version"), "v2", "verifier.version"),
        (("software", "math-verify"), "0.8.0", "software.math-verify"),
        (("benchmarks", "b", "max_tokens"), 32, "benchmarks.b.max_tokens"),
        (("benchmarks", "b", "data_sha256"), "e", "benchmarks.b.data_sha256"),
        (("benchmarks", "b", "prompt_template"), {"sha256": "q"}, "benchmarks.b.prompt_template"),
    ],
)
def test_refusal_names_each_difference(path, value, named) -> None:
    other = copy.deepcopy(MANIFEST)
    node = other
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    hard, _ = compare_manifests(MANIFEST, other)
    assert [h.split(":")[0] for h in hard] == [named]
    t = _envelope("teacher", GOLDEN["teacher"])
    s = _envelope("student", GOLDEN["student"], manifest=other)
    with pytest.raises(ManifestMismatch, match=named.replace(".", r"\.")):
        build_gap(t, {"student": s})
    allowed = build_gap(t, {"student": s}, allow_mismatch=True)
    assert allowed["mismatches"]["student"][0].startswith(named)


def test_what_does_not_change_numbers_is_a_note() -> None:
    other = copy.deepcopy(MANIFEST)
    other["software"]["torch"] = "2.14.0"
    other["chat_template"] = {"sha256": "b"}
    other["engine"]["options"] = {"data_parallel_size": 4, "concurrency": 8}
    hard, notes = compare_manifests(MANIFEST, other)
    assert hard == []
    assert any("software.torch" in n for n in notes) and any("chat templates" in n for n in notes)
