"""Every report says how many verdicts the format check decided, and under which policy."""

from __future__ import annotations

import json
from pathlib import Path

from reasoning_distill.eval.results import summary_markdown
from reasoning_distill.eval.scoring import benchmark_metrics, format_decided, format_decided_text

from reasoning_distill.cli.main import main
from tests.cli._eval_envelopes import envelope, teacher_student, write

POLICY = "check_format: a closed think block and no truncation, then the answer"


def _with_format(env: dict, reason: str, every: int) -> dict:
    """Mark every `every`-th wrong sample as failed by the format check with `reason`."""
    n = 0
    for p in env["benchmarks"]["toy_math"]["problems"]:
        p["format_decided"] = []
        for j, ok in enumerate(p["correct"]):
            decided = not ok and n % every == 0
            n += not ok
            p["format_decided"].append(decided)
            if decided:
                p["reasons"][j] = reason
    return env


def test_format_decided_counts_reasons_and_says_when_records_do_not():
    problems = [
        {"correct": [True, False, False], "reasons": ["ok", "no_think", "wrong_answer"],
         "format_decided": [False, True, False]},
        {"correct": [False, False, True], "reasons": ["truncated", "no_think", "ok"],
         "format_decided": [True, True, False]},
    ]  # fmt: skip
    d = format_decided(problems)
    assert d == {"count": 3, "of": 6, "share": 0.5, "by_reason": {"no_think": 2, "truncated": 1}}
    assert format_decided_text(d) == "3 of 6 (no_think 2, truncated 1)"
    # Older results (no `format_decided`) are not guessed at.
    assert format_decided([{"correct": [True], "reasons": ["ok"]}]) is None
    assert format_decided_text(None) == "n/a"


def test_metrics_and_summary_show_the_format_decided_count():
    t, _ = teacher_student()
    env = _with_format(envelope("teacher", t), "no_think", 2)
    problems = env["benchmarks"]["toy_math"]["problems"]
    metrics, _ = benchmark_metrics("toy_math", "math", problems, n=4)
    want = format_decided(problems)
    assert metrics["format_decided"] == want and want["count"] > 0
    env["benchmarks"]["toy_math"]["metrics"] = metrics
    table = summary_markdown({"teacher": env})
    assert "decided by the format check" in table
    assert format_decided_text(want) in table


def test_gap_reports_state_the_format_decided_counts_and_the_policy(tmp_path: Path):
    t, s = teacher_student()
    teacher = _with_format(envelope("teacher", t, verifier__format=POLICY), "truncated", 3)
    student = _with_format(envelope("student", s, verifier__format=POLICY), "no_think", 1)
    write(tmp_path / "teacher", teacher)
    write(tmp_path / "student", student)
    out = tmp_path / "gap"
    assert main(["gap", "--teacher", str(tmp_path / "teacher"), "--student",
                 str(tmp_path / "student"), "--out", str(out)]) == 0  # fmt: skip
    gap = json.loads((out / "gap.json").read_text())["benchmarks"]["toy_math"]["student"]
    sp = student["benchmarks"]["toy_math"]["problems"]
    assert gap["format_decided"]["student"] == format_decided(sp)
    assert gap["format_decided"]["student"]["count"] == sum(not c for p in sp for c in p["correct"])
    line = (
        f"Decided by the format check ({POLICY}): teacher "
        f"{format_decided_text(gap['format_decided']['teacher'])}; student "
        f"{format_decided_text(gap['format_decided']['student'])}."
    )
    assert line in (out / "gap.md").read_text()
    assert "Decided by the format check" in (out / "gap.html").read_text()


def test_a_different_format_policy_is_a_protocol_difference(tmp_path: Path):
    t, s = teacher_student()
    write(tmp_path / "teacher", envelope("teacher", t, verifier__format=POLICY))
    loose = "no format check: the answer alone decides"
    write(tmp_path / "student", envelope("student", s, verifier__format=loose))
    out = tmp_path / "gap"
    argv = ["gap", "--teacher", str(tmp_path / "teacher"), "--student", str(tmp_path / "student"),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 2 and not out.exists()
    assert main([*argv, "--allow-mismatch"]) == 0
    assert "verifier.format: teacher" in (out / "gap.md").read_text().split("## Summary")[0]
