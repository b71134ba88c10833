"""`rdistill eval` on real files and a real (tiny) model (build tests: tests/cli/test_build.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks"


def _rdistill(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reasoning_distill.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (benchmark files not shipped)")
def test_eval_two_models_on_gsm8k(tmp_path):
    from reasoning_distill.toy.models import make_tiny_model

    model = make_tiny_model(tmp_path / "tiny", ["The answer is \\boxed{18}. <think></think>"] * 20)
    out = tmp_path / "eval"
    proc = _rdistill(
        "eval",
        "--model",
        f"teacher={model}",
        "--model",
        f"student={model}",
        "--teacher",
        "teacher",
        "--benchmark",
        f"gsm8k={SHARED / 'gsm8k_test.jsonl'}",
        "--limit",
        "3",
        "--n",
        "2",
        "--max-tokens",
        "8",
        "--out",
        str(out),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results["gsm8k"]) == {"teacher", "student"}
    assert all(len(v) == 2 for v in results["gsm8k"]["teacher"].values())
    assert len(results["gsm8k"]["teacher"]) == 3
    report = json.loads((out / "report.json").read_text())
    assert "gsm8k" in report["benchmarks"]
    verdicts = (out / "teacher" / "gsm8k" / "verdicts.jsonl").read_text().splitlines()
    assert len(verdicts) == 6 and all("reason" in json.loads(v) for v in verdicts)
