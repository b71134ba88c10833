"""`rdistill eval` bad inputs: each is one line on stderr, exit 2, no traceback, before any model
loads, and nothing already in --out is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reasoning_distill.cli.main import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from reasoning_distill.toy.models import make_tiny_model

    return make_tiny_model(
        tmp_path_factory.mktemp("m") / "tiny", ["The answer is \\boxed{4}. <think></think>"] * 20
    )


def _base(tiny: Path, out: Path) -> dict[str, list[str]]:
    return {
        "model": ["--model", f"teacher={tiny}"],
        "benchmark": ["--benchmark", "toy_math", "--limit", "2"],
        "out": ["--out", str(out)],
        "rest": ["--n", "1", "--max-tokens", "4"],
    }


def _argv(parts: dict[str, list[str]]) -> list[str]:
    return ["eval", *[a for v in parts.values() for a in v]]


def _setup_out_file(tmp: Path) -> Path:
    p = tmp / "taken"
    p.write_text("keep me")
    return p


def _setup_under_file(tmp: Path) -> Path:
    (tmp / "afile").write_text("keep me")
    return tmp / "afile" / "out"


def _setup_foreign(tmp: Path) -> Path:
    d = tmp / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    return d


def _file(name: str, content: bytes):
    """A setup that writes `content` to `tmp/name` and returns its path."""

    def setup(tmp: Path) -> Path:
        p = tmp / name
        p.write_bytes(content)
        return p

    return setup


_bad_jsonl = _file("bad.jsonl", b'{"problem": "1+1?", "answer": "2"}\n{not json\n')
_bad_utf8 = _file(
    "bad_utf8.jsonl",
    b'{"problem": "1+1?", "answer": "2"}\n{"problem": "\xff\xfe", "answer": "3"}\n',
)
_no_answer = _file("no_answer.jsonl", b'{"problem": "1+1?"}\n')


def _empty_dir(tmp: Path) -> Path:
    d = tmp / "notamodel"
    d.mkdir()
    return d


# (case id, how to change the base arguments, expected text in the one error line)
CASES = [
    ("unknown benchmark", lambda t, p: p.update(benchmark=["--benchmark", "nope"]), "unknown benchmark 'nope'"),
    ("missing benchmark file", lambda t, p: p.update(benchmark=["--benchmark", f"gsm8k={t}/none.jsonl"]), "no such file"),
    ("malformed row", lambda t, p: p.update(benchmark=["--benchmark", f"gsm8k={_bad_jsonl(t)}"]), "bad.jsonl"),
    ("invalid utf-8", lambda t, p: p.update(benchmark=["--benchmark", f"gsm8k={_bad_utf8(t)}"]), "bad_utf8.jsonl"),
    ("row without answer", lambda t, p: p.update(benchmark=["--benchmark", f"gsm8k={_no_answer(t)}"]), "row 1"),
    ("hub benchmark offline", lambda t, p: p.update(benchmark=["--benchmark", "aime2026"]), "aime2026"),
    ("benchmark twice", lambda t, p: p.update(benchmark=["--benchmark", "toy_math", "--benchmark", "toy_math"]), "given twice"),
    ("missing model folder", lambda t, p: p.update(model=["--model", f"teacher={t}/nope"]), "no such folder"),
    ("folder without config", lambda t, p: p.update(model=["--model", f"teacher={_empty_dir(t)}"]), "no config.json"),
    ("offline hub id", lambda t, p: p.update(model=["--model", "teacher=nobody-xyz/no-model"]), "HF_HUB_OFFLINE"),
    ("model without path", lambda t, p: p.update(model=["--model", "teacher"]), "NAME=PATH"),
    ("model name twice", lambda t, p: p["model"].extend(["--model", f"teacher={t}"]), "given twice"),
    ("model name with slash", lambda t, p: p.update(model=["--model", f"a/b={t}"]), "a name may hold"),
    ("teacher names no model", lambda t, p: p["model"].extend(["--teacher", "techer"]), "'techer' is not one of"),
    ("teacher without student", lambda t, p: p["model"].extend(["--teacher", "teacher"]), "at least one other --model"),
    ("n = 0", lambda t, p: p.update(rest=["--n", "0"]), "n must be >= 1"),
    ("max tokens 0", lambda t, p: p.update(rest=["--max-tokens", "0"]), "--max-tokens must be >= 1"),
    ("limit 0", lambda t, p: p.update(benchmark=["--benchmark", "toy_math", "--limit", "0"]), "--limit must be >= 1"),
    ("date window on undated", lambda t, p: p.update(rest=["--date-window", "2024-01-01:"]), "does not date its problems"),
    ("context beyond the model", lambda t, p: p.update(rest=["--engine", "vllm", "--max-model-len", "100000"]), "max_position_embeddings"),
    ("absurd n", lambda t, p: p.update(rest=["--n", "1000000000"]), "lower --n"),
    ("negative tensor parallel", lambda t, p: p.update(rest=["--tensor-parallel", "0"]), "--tensor-parallel must be"),
    ("top-p 0", lambda t, p: p.update(rest=["--top-p", "0"]), "top_p"),
    ("max tokens for unknown", lambda t, p: p.update(rest=["--max-tokens-for", "gsm8k=5"]), "not one of the --benchmark"),
    ("out is a file", lambda t, p: p.update(out=["--out", str(_setup_out_file(t))]), "not a folder"),
    ("out under a file", lambda t, p: p.update(out=["--out", str(_setup_under_file(t))]), "is a file"),
    ("out not ours", lambda t, p: p.update(out=["--out", str(_setup_foreign(t))]), "not written by this command"),
]  # fmt: skip


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case,change,expect", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(
    case, change, expect, tiny, tmp_path, capsys, monkeypatch, no_model_loads
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    parts = _base(tiny, tmp_path / "out")
    change(tmp_path, parts)
    before = _snapshot(tmp_path)
    rc = main(_argv(parts))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "INFO" not in line]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("rdistill eval: error:"), err
    assert expect in lines[0], lines[0]
    assert "Traceback" not in err
    # Nothing loaded a model (no_model_loads) and nothing already there changed.
    after = _snapshot(tmp_path)
    assert all(after.get(k) == v for k, v in before.items())
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_read_only_out(tiny, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        parts = _base(tiny, ro / "out")
        assert main(_argv(parts)) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


def test_argparse_error_and_process_exit(tiny, tmp_path):
    """Through a real process: the message is one line and the exit code 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "reasoning_distill.cli.main", "eval", "--model", f"t={tiny}",
         "--benchmark", "nope", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and "unknown benchmark 'nope'" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
