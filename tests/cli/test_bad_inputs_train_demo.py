"""`rdistill train` and `rdistill demo` bad inputs: one line, exit 2 (or check's 1), no
traceback, and nothing already there touched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from training_fixtures import *  # noqa: E402, F403  (tiny_model_dir, train_rows)


def _rdistill(*argv: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "reasoning_distill.cli.main", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def world(tmp_path, tiny_model_dir, train_rows):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in train_rows[:8]))
    (tmp_path / "afile").write_text("keep me")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("keep me")
    (tmp_path / "bad.yaml").write_text("max_steps: [1, 2\n")
    (tmp_path / "unknown.yaml").write_text("no_such_field_anywhere: 3\n")
    (tmp_path / "bad_row.jsonl").write_text('{"messages": "not a list"}\n')
    return {"tmp": tmp_path, "model": str(tiny_model_dir), "data": str(data)}


def _sft(w, *extra, out="run"):
    return ["train", "sft", "--model_name_or_path", w["model"], "--dataset_name", w["data"],
            "--output_dir", str(w["tmp"] / out), "--max_steps", "1", *extra]  # fmt: skip


CASES = [
    ("config missing", lambda w: ["train", "sft", "--config", str(w["tmp"] / "nope.yaml")], 2, "nope.yaml"),
    ("config not YAML", lambda w: ["train", "sft", "--config", str(w["tmp"] / "bad.yaml")], 2, "bad.yaml"),
    ("unknown config key", lambda w: ["train", "sft", "--config", str(w["tmp"] / "unknown.yaml")], 2, "no_such_field_anywhere"),
    ("negative learning rate", lambda w: _sft(w, "--learning_rate", "-1"), 2, "learning_rate"),
    ("model folder missing", lambda w: ["train", "sft", "--model_name_or_path", str(w["tmp"] / "nomodel"), "--dataset_name", w["data"], "--output_dir", str(w["tmp"] / "run")], 2, "nomodel"),
    ("dataset missing", lambda w: ["train", "sft", "--model_name_or_path", w["model"], "--dataset_name", str(w["tmp"] / "nodata.jsonl"), "--output_dir", str(w["tmp"] / "run")], 2, "nodata.jsonl"),
    ("output is a file", lambda w: _sft(w, out="afile"), 2, "afile"),
    ("output holds other files", lambda w: _sft(w, out="foreign"), 2, "foreign"),
    ("rkl without a teacher", lambda w: ["train", "rkl", "--model_name_or_path", w["model"], "--dataset_name", w["data"], "--output_dir", str(w["tmp"] / "rkl")], 2, "teacher"),
    ("demo out is a file", lambda w: ["demo", "--quick", "--out", str(w["tmp"] / "afile")], 2, "afile"),
    ("demo out under a file", lambda w: ["demo", "--quick", "--out", str(w["tmp"] / "afile" / "x")], 2, "afile"),
]  # fmt: skip


@pytest.mark.parametrize("argv, code, needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(world, argv, code, needle):
    proc = _rdistill(*argv(world))
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert errors and needle in errors[-1], proc.stderr[-2000:]
    assert (world["tmp"] / "afile").read_text() == "keep me"
    assert (world["tmp"] / "foreign" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in (world["tmp"] / "foreign").iterdir()) == ["notes.txt"]
