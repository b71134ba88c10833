"""The teacher-gap report: structure, numbers, files written, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from reasoning_distill.eval.gap_report import (
    build_gap_report,
    render_markdown,
    write_report,
)

from reasoning_distill.atomic import renamed_into_place

MODELS = {"teacher": 0.7, "answer_only": 0.3, "unverified": 0.45, "verified": 0.65}


def _results(seed: int = 0, m: int = 120, n: int = 4) -> dict:
    """Synthetic verdicts from known per-problem probabilities, shared difficulty."""
    rng = np.random.default_rng(seed)
    out: dict = {}
    for bench in ("toy_math", "toy_code"):
        difficulty = rng.beta(2, 2, size=m)
        out[bench] = {}
        for model, base in MODELS.items():
            p = np.clip(base + 0.5 * (difficulty - 0.5), 0, 1)
            x = rng.random((m, n)) < p[:, None]
            out[bench][model] = {f"{bench}-{i}": [bool(v) for v in row] for i, row in enumerate(x)}
    return out


VERIFICATION = {
    "toy_math": {
        "generated": 800,
        "kept": 480,
        "by_reason": {"ok": 480, "wrong_answer": 300, "truncated": 20},
    },
    "toy_code": {"generated": 400, "kept": 200, "by_reason": {"ok": 200, "tests_failed": 200}},
}
PROTOCOL = {"n_samples": 4, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 256}
TARGETS = [
    {"name": "verified recovers >= 90% on toy_math", "met": True, "detail": "0.93"},
    {"name": "verified beats unverified beyond intervals", "met": False, "detail": "overlap"},
]


@pytest.fixture(scope="module")
def report() -> dict:
    return build_gap_report(
        _results(),
        verification=VERIFICATION,
        protocol=PROTOCOL,
        extra={"targets": TARGETS},
        compare=[("verified", "answer_only"), ("verified", "unverified"), ("verified", "ghost")],
    )


def test_report_structure_and_numbers(report: dict) -> None:
    res = _results()
    assert set(report) >= {"benchmarks", "verification", "protocol", "comparisons", "targets"}
    assert set(report["benchmarks"]) == {"toy_math", "toy_code"}
    for bench, models in report["benchmarks"].items():
        assert list(models)[0] == "teacher"
        assert set(models) == set(MODELS)
        t = models["teacher"]
        assert t["recovery"] == 1.0 and t["recovery_ci95"] == [1.0, 1.0]
        for model, e in models.items():
            # The numbers themselves are checked against hand-worked values below
            # (test_report_golden_numbers); here: shape and internal consistency.
            mean = sum(sum(v) for v in res[bench][model].values()) / (120 * 4)
            assert e["pass@1"] == pytest.approx(mean, abs=1e-12)
            assert (e["n_problems"], e["n_samples"]) == (120, 4)
            assert e["ci95"][0] <= e["pass@1"] <= e["ci95"][1]
            if model != "teacher":
                assert e["recovery"] == pytest.approx(e["pass@1"] / t["pass@1"], abs=1e-12)
                assert e["recovery_ci95"][0] <= e["recovery"] <= e["recovery_ci95"][1]
    comp = report["comparisons"]["toy_math"]
    assert comp["verified vs answer_only"]["separated"] is True
    assert comp["verified vs answer_only"]["diff"] > 0
    assert "ghost" in comp["verified vs ghost"]["skipped"]
    assert report["verification"] == VERIFICATION and report["protocol"] == PROTOCOL
    json.dumps(report, allow_nan=False)  # JSON-ready as is


def test_report_errors_name_the_place() -> None:
    res = _results(m=10)
    res["toy_math"]["verified"] = dict(list(res["toy_math"]["verified"].items())[:-1])
    with pytest.raises(ValueError, match=r"'toy_math', model 'verified'.*toy_math-9"):
        build_gap_report(res)
    with pytest.raises(ValueError, match="would overwrite"):
        build_gap_report(_results(m=10), extra={"benchmarks": {}})


def test_report_without_teacher_and_zero_teacher() -> None:
    res = {"b": {"student": {"p1": [True], "p2": [False]}}}
    e = build_gap_report(res)["benchmarks"]["b"]["student"]
    assert e["recovery"] is None and "no teacher" in e["recovery_note"]
    res = {"b": {"teacher": {"p1": [False]}, "student": {"p1": [True]}}}
    e = build_gap_report(res)["benchmarks"]["b"]["student"]
    assert e["recovery"] is None and "teacher pass@1 is 0" in e["recovery_note"]
    assert "teacher pass@1 is 0" in render_markdown(build_gap_report(res))
    # 0 / 0 is not 1: a teacher that solves nothing has no recovery of its own either
    t = build_gap_report(res, teacher="teacher")["benchmarks"]["b"]["teacher"]
    assert t["recovery"] is None and t["recovery_ci95"] is None
    assert "teacher pass@1 is 0" in t["recovery_note"]


def test_unbounded_recovery_interval_renders() -> None:
    """A teacher right on the edge of 0 (1 of 40 problems) leaves the recovery interval with no
    upper bound: JSON stores it as null, and every renderer prints it as inf."""
    teacher = {f"p{i}": [i == 0, False] for i in range(40)}
    student = {f"p{i}": [False, False] for i in range(40)}
    report = build_gap_report({"b": {"teacher": teacher, "student": student}}, teacher="teacher")
    e = report["benchmarks"]["b"]["student"]
    assert e["recovery"] == 0.0 and e["recovery_ci95"] == [0.0, None]
    assert "[0.000, inf]" in render_markdown(report)


def test_write_report_files(report: dict, tmp_path: Path) -> None:
    from PIL import Image

    paths = write_report(report, tmp_path / "out", title="Toy run")
    assert set(paths) == {"json", "md", "png"}
    assert json.loads(paths["json"].read_text()) == json.loads(json.dumps(report))
    md = paths["md"].read_text()
    for model in MODELS:
        assert model in md
    for text in (
        "## toy_math",
        "## toy_code",
        "verified vs answer_only",
        "wrong_answer",
        "temperature",
        "MISSED",
        "MET",
        "Toy run",
    ):
        assert text in md
    teacher_row = next(line for line in md.splitlines() if line.startswith("| **teacher**"))
    assert f"{report['benchmarks']['toy_math']['teacher']['pass@1']:.3f}" in teacher_row
    assert paths["png"].stat().st_size > 0
    with Image.open(paths["png"]) as im:
        im.verify()
    with Image.open(paths["png"]) as im:
        assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100
    assert not list((tmp_path / "out").glob("*.tmp")) and not list((tmp_path / "out").glob(".*"))


def test_write_report_failure_keeps_previous(report: dict, tmp_path: Path) -> None:
    write_report(report, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    bad = dict(report, extra_value={1, 2})  # a set is not JSON
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        write_report(bad, tmp_path)
    bad = dict(report, nan=float("nan"))
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        write_report(bad, tmp_path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # nothing touched, nothing left behind


def test_atomic_write_failing_midway_leaves_old_file(tmp_path: Path) -> None:
    """The report's files (the plot included) are renamed into place: a writer failing
    halfway leaves the old file and no temporary."""
    target = tmp_path / "report.json"
    target.write_text('{"old": true}')
    with pytest.raises(OSError, match="disk full"), renamed_into_place(target) as tmp:
        tmp.write_text('{"new": ')
        raise OSError("disk full")
    assert target.read_text() == '{"old": true}'
    assert os.listdir(tmp_path) == ["report.json"]


def test_write_report_bad_out_dir(report: dict, tmp_path: Path) -> None:
    # A folder under a regular file cannot be created, even by root.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot create"):
        write_report(report, blocker / "out")


def test_report_golden_numbers() -> None:
    """Hand-worked values (tests/eval/golden/gap_small.json, 'worked'), not the code's own."""
    golden = json.loads((Path(__file__).parent / "golden" / "gap_small.json").read_text())
    want = golden["expected"]
    res = {"b": {"teacher": golden["teacher"], "student": golden["student"]}}
    report = build_gap_report(res, compare=[("student", "teacher")])
    t, s = report["benchmarks"]["b"]["teacher"], report["benchmarks"]["b"]["student"]
    assert t["pass@1"] == pytest.approx(want["teacher_pass@1"], abs=1e-12)
    assert s["pass@1"] == pytest.approx(want["student_pass@1"], abs=1e-12)
    assert s["recovery"] == pytest.approx(want["recovery"], abs=1e-12)
    c = report["comparisons"]["b"]["student vs teacher"]
    assert c["diff"] == pytest.approx(want["difference"], abs=1e-12)
    assert c["ci95"] == pytest.approx(want["difference_ci95"], abs=2e-3)
    assert c["separated"] is False


def test_one_seed_recovery_over_a_teacher_near_zero_is_written(tmp_path):
    """One training seed of a student that solves nothing, a teacher that solves one problem:
    the recovery interval is unbounded above; report.json holds it as null (the quick demo on
    vLLM died writing an infinity)."""
    teacher = {f"p{i}": [i == 0, False] for i in range(40)}
    student = {f"p{i}": [False, False] for i in range(40)}
    report = build_gap_report({"b": {"teacher": teacher, "student": [student]}}, seeds=[0])
    e = report["benchmarks"]["b"]["student"]
    assert e["recovery"] == 0.0 and e["recovery_ci95"][0] == 0.0
    assert e["recovery_ci95"][1] is None and "seed variance not measured" in e["recovery_note"]
    write_report(report, tmp_path)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["benchmarks"]["b"]["student"]["recovery_ci95"] == [0.0, None]
    assert "[0.000, inf]" in (tmp_path / "report.md").read_text()
