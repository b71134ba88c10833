"""`rdistill gap`: the report from saved results (envelopes, or a plain multi-model file)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reasoning_distill.cli.main import main
from tests.cli._eval_envelopes import envelope, teacher_student, write


def _results() -> dict:
    t = {f"p{i}": [i % 3 != 0, True, i % 2 == 0, True] for i in range(40)}
    s = {f"p{i}": [i % 3 != 0, False, False, i % 2 == 0] for i in range(40)}
    return {"toy_math": {"teacher": t, "student": s}}


def test_gap_cli_writes_report(tmp_path: Path, capsys) -> None:
    res = tmp_path / "results.json"
    res.write_text(json.dumps(_results()))
    rc = main(
        ["gap", "--results", str(res), "--out", str(tmp_path / "r"), "--compare", "teacher:student"]
    )
    assert rc == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    e = report["benchmarks"]["toy_math"]["student"]
    assert e["n_problems"] == 40 and e["n_samples"] == 4 and 0 < e["recovery"] < 1
    assert report["comparisons"]["toy_math"]["teacher vs student"]["separated"] is True
    assert report["protocol"]["results_file"] == str(res)
    out = capsys.readouterr().out
    assert "toy_math" in out and "student" in out and "teacher" in out
    assert (tmp_path / "r" / "report.png").stat().st_size > 0


def test_gap_cli_wrapped_file_with_targets(tmp_path: Path) -> None:
    res = tmp_path / "results.json"
    wrapped = {
        "results": _results(),
        "verification": {"generated": 10, "kept": 6, "by_reason": {"ok": 6, "wrong_answer": 4}},
        "protocol": {"n_samples": 4},
        "targets": [{"name": "student recovers 90%", "met": False, "detail": "0.6"}],
    }
    res.write_text(json.dumps(wrapped))
    assert main(["gap", "--results", str(res), "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "MISSED" in md and "wrong_answer" in md and "n_samples" in md


def test_gap_cli_bad_input(tmp_path: Path, capsys) -> None:
    res = tmp_path / "results.json"
    assert main(["gap", "--results", str(res), "--out", str(tmp_path / "r")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = _results()
    bad["toy_math"]["student"]["p3"] = [True]
    res.write_text(json.dumps(bad))
    assert main(["gap", "--results", str(res), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "'student'" in err and "'p3'" in err
    assert not (tmp_path / "r" / "report.json").exists()


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\nfrom reasoning_distill.cli.main import make_parser\n"
        "make_parser().parse_args(['gap', '--results', 'x', '--out', 'y'])\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'datasets', 'rich', 'numpy') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "matplotlib" not in out.stdout and "torch" not in out.stdout, out.stdout


def test_gap_from_envelopes(tmp_path: Path, capsys) -> None:
    t, s = teacher_student()
    write(tmp_path / "teacher", envelope("teacher", t))
    write(tmp_path / "student", envelope("student", s))
    out = tmp_path / "gap"
    rc = main(["gap", "--teacher", str(tmp_path / "teacher"), "--student",
               str(tmp_path / "student" / "results.json"), "--out", str(out)])  # fmt: skip
    assert rc == 0
    gap = json.loads((out / "gap.json").read_text())
    g = gap["benchmarks"]["toy_math"]["student"]
    assert g["n_problems"] == 40 and g["n_samples"] == 4 and 0 < g["recovery"] < 1
    assert sum(g["problem_table"].values()) == 40
    assert gap["mismatches"] == {}
    html = (out / "gap.html").read_text()
    assert "data:image/png;base64," in html and "toy_math" in html and 'src="http' not in html
    assert "toy_math" in (out / "gap.md").read_text()
    assert "recovery" in capsys.readouterr().out
    # Rerun into the same folder: it is ours, so it is replaced.
    assert main(["gap", "--teacher", str(tmp_path / "teacher"), "--student",
                 str(tmp_path / "student"), "--out", str(out)]) == 0  # fmt: skip


def test_allow_mismatch_lists_the_differences_first(tmp_path: Path) -> None:
    t, s = teacher_student()
    write(tmp_path / "teacher", envelope("teacher", t))
    write(tmp_path / "student", envelope("student", s, engine__options={"dtype": "bfloat16"}))
    out = tmp_path / "gap"
    argv = ["gap", "--teacher", str(tmp_path / "teacher"), "--student", str(tmp_path / "student"),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 2 and not out.exists()
    assert main([*argv, "--allow-mismatch"]) == 0
    md = (out / "gap.md").read_text()
    first = md.split("## Summary")[0]
    assert 'engine.options.dtype: teacher null vs student "bfloat16"' in first
    assert "Protocols differ" in (out / "gap.html").read_text().split("<h2>Summary")[0]


def test_wandb_offline(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    t, s = teacher_student()
    write(tmp_path / "teacher", envelope("teacher", t))
    write(tmp_path / "student", envelope("student", s))
    out = tmp_path / "gap"
    assert main(["gap", "--teacher", str(tmp_path / "teacher"), "--student",
                 str(tmp_path / "student"), "--out", str(out)]) == 0  # fmt: skip
    runs = list((out / "wandb").glob("offline-run-*"))
    assert runs and any(p.suffix == ".wandb" for p in runs[0].iterdir())


def test_gap_json_drops_credentials_an_older_results_file_holds(tmp_path: Path) -> None:
    """results.json written before URLs were made public may hold `user:pw@`; gap.json not."""
    t, s = teacher_student()
    url = "http://u:SECRET@127.0.0.1:8000/v1?api_key=SECRET2"
    write(tmp_path / "teacher", envelope("teacher", t, engine__options={"base_url": url}))
    write(tmp_path / "student", envelope("student", s, engine__options={"base_url": url}))
    out = tmp_path / "gap"
    assert main(["gap", "--teacher", str(tmp_path / "teacher"), "--student",
                 str(tmp_path / "student"), "--out", str(out)]) == 0  # fmt: skip
    gap = json.loads((out / "gap.json").read_text())
    assert gap["manifest"]["engine"]["options"]["base_url"] == (
        "http://127.0.0.1:8000/v1?api_key=REDACTED"
    )
    assert all("SECRET" not in p.read_text() for p in out.glob("gap.*"))
