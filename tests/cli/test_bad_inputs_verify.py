"""`rdistill verify`: bad inputs and faults, each with its exit code, its one-line message and
proof that nothing already written was lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from reasoning_distill.cli.main import main
from tests.cli._verify_rows import PLUS3, code_completion, make_store, mixed_samples, write_jsonl


def _verify(capsys, *args: str) -> tuple[int, str]:
    code = main(["verify", *args])
    return code, capsys.readouterr().err.strip()


def _math_row(answer="5", gold="5", **more) -> dict:
    return {"completion": f"<think>x</think> \\boxed{{{answer}}}", "gold": gold, **more}


@pytest.mark.parametrize("timeout", ["0", "-1", "nan"])
def test_a_zero_negative_or_nan_timeout_is_refused(tmp_path, capsys, timeout):
    src = write_jsonl(tmp_path / "in.jsonl", [_math_row()])
    out = tmp_path / "out.jsonl"
    code, err = _verify(
        capsys, "math", "--input", str(src), "--out", str(out), f"--timeout={timeout}"
    )
    assert code == 2 and "--timeout must be a positive number" in err
    assert len(err.splitlines()) == 1 and not out.exists()


def test_zero_workers_is_refused(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [_math_row()])
    code, err = _verify(
        capsys, "math", "--input", str(src), "--out", str(tmp_path / "o"), "--workers", "0"
    )
    assert code == 2 and "--workers" in err


def test_rows_of_another_kind_in_verify_math_are_refused_naming_the_row(tmp_path, capsys):
    rows = [
        _math_row(kind="math"),
        {"completion": code_completion("return x"), "gold": PLUS3, "kind": "code"},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code, err = _verify(capsys, "math", "--input", str(src), "--out", str(out))
    assert code == 2 and f"{src}:2" in err and "'code'" in err and "verify auto" in err
    assert not out.exists()
    # and `auto` routes each row by its kind
    assert _verify(capsys, "auto", "--input", str(src), "--out", str(out))[0] == 0
    got = [json.loads(line)["verdict"]["reason"] for line in out.read_text().splitlines()]
    assert got == ["ok", "wrong_answer"]


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        # a list of tests as `code` used to become a no-op statement, and any program passed
        (
            {
                "completion": code_completion("return x"),
                "gold": {**PLUS3, "code": ["assert f(2) == 5"]},
            },
            "'code' must be a string",
        ),
        (
            {"completion": code_completion("return x"), "gold": {"kind": "stdio", "cases": "1 2"}},
            "'cases' must be a list",
        ),
        (
            {
                "completion": code_completion("return x"),
                "gold": {"kind": "stdio", "cases": [{"input": 1, "output": 2}]},
            },
            "must be a string",
        ),
        (
            {"completion": ["```python\nprint(1)\n```"], "gold": PLUS3},
            "completion must be a string",
        ),
        (
            {
                "completion": code_completion("return x"),
                "gold": {"kind": "assert", "code": "assert f(2) == 5", "entry_point": ["f"]},
            },
            "entry_point",
        ),
    ],
)
def test_wrongly_typed_code_rows_are_refused_naming_row_and_field(tmp_path, capsys, row, needle):
    src = write_jsonl(tmp_path / "in.jsonl", [row])
    out = tmp_path / "out.jsonl"
    code, err = _verify(capsys, "code", "--input", str(src), "--out", str(out))
    assert code == 2 and f"{src}:1" in err and needle in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        (_math_row(gold=["5"]), "math gold must be a string or a number"),
        (_math_row(gold=True), "math gold must be a string or a number"),
        ({"completion": 5, "gold": "5"}, "completion must be a string"),
        (_math_row(finish_reason=3), "finish_reason"),
    ],
)
def test_wrongly_typed_math_rows_are_refused(tmp_path, capsys, row, needle):
    src = write_jsonl(tmp_path / "in.jsonl", [row])
    code, err = _verify(capsys, "math", "--input", str(src), "--out", str(tmp_path / "o.jsonl"))
    assert code == 2 and f"{src}:1" in err and needle in err, err


def test_bad_paths(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [_math_row()])
    code, err = _verify(
        capsys, "math", "--input", str(tmp_path / "no.jsonl"), "--out", str(tmp_path / "o")
    )
    assert code == 2 and "no.jsonl: no such file" in err
    code, err = _verify(capsys, "math", "--input", str(src), "--out", str(src))
    assert code == 2 and "--out must differ" in err
    code, err = _verify(capsys, "math", "--input", str(src), "--out", str(tmp_path))
    assert code == 2 and "is a folder" in err
    (tmp_path / "f").write_text("x")
    code, err = _verify(
        capsys, "math", "--input", str(src), "--out", str(tmp_path / "f" / "o.jsonl")
    )
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    code, err = _verify(capsys, "--samples", str(tmp_path / "nostore"))
    assert code == 2 and "no such folder" in err
    code, err = _verify(capsys, "--samples", str(tmp_path))
    assert code == 2 and "manifest.json" in err


def test_a_changed_verifier_configuration_is_refused_unless_redo(tmp_path, capsys):
    store = make_store(tmp_path / "gen", mixed_samples())
    assert _verify(capsys, "--samples", str(store))[0] == 0
    before = (store / "verdicts.jsonl").read_bytes()
    code, err = _verify(capsys, "--samples", str(store), "--timeout", "3")
    assert code == 2 and "another verifier configuration" in err and "--redo" in err
    assert (store / "verdicts.jsonl").read_bytes() == before
    assert _verify(capsys, "--samples", str(store), "--timeout", "3", "--redo")[0] == 0
    assert len((store / "verdicts.jsonl").read_text().splitlines()) == 4


_SLOW = "```python\nimport time\ntime.sleep(0.7)\ndef f(x):\n    return x + 3\n```"


def _run_and_interrupt(argv: list[str], journal_lines, min_lines: int = 2) -> tuple[int, int]:
    """Start `rdistill verify ...`, SIGINT it once some verdicts are stored; (rc, the verdicts
    stored when the signal was sent)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reasoning_distill.cli.main", "verify", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while journal_lines() < min_lines:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no verdict was written within 120 s"
        time.sleep(0.1)
    at_signal = journal_lines()
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=60)
    err = proc.stderr.read()
    assert "Traceback" not in err, err
    return rc, at_signal


def _lines(path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow
def test_ctrl_c_during_verify_code_stops_promptly_and_keeps_what_finished(tmp_path):
    rows = [{"completion": _SLOW, "gold": PLUS3} for _ in range(40)]
    src, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"
    journal = tmp_path / ".out.jsonl.partial.jsonl"
    argv = ["code", "--input", str(src), "--out", str(out), "--workers", "2"]
    rc, at_signal = _run_and_interrupt(argv, lambda: _lines(journal))
    # only the programs running when Ctrl-C came finish (two workers); nothing queued starts
    kept = _lines(journal)
    assert rc == 130 and at_signal <= kept <= at_signal + 4, (rc, at_signal, kept)
    assert 2 <= kept < 40 and not out.exists()
    # the rerun verifies only the rest and removes its journal
    proc = subprocess.run(
        [sys.executable, "-m", "reasoning_distill.cli.main", "verify", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line)["verdict"]["reason"] for line in out.read_text().splitlines()]
    assert got == ["ok"] * 40 and not journal.exists()


@pytest.mark.slow
def test_ctrl_c_during_verify_samples_keeps_verdicts_and_resumes(tmp_path):
    samples = [
        dict(problem_id=f"c{i}", sample_index=0, messages=[{"role": "user", "content": "f"}],
             kind="code", gold=PLUS3, completion="<think>\nw\n</think>\n\n" + _SLOW)
        for i in range(30)
    ]  # fmt: skip
    store = make_store(tmp_path / "gen", samples)
    verdicts = store / "verdicts.jsonl"
    rc, at_signal = _run_and_interrupt(
        ["--samples", str(store), "--workers", "2"], lambda: _lines(verdicts)
    )
    kept = _lines(verdicts)
    assert rc == 130 and at_signal <= kept <= at_signal + 4, (rc, at_signal, kept)
    assert 2 <= kept < 30
    proc = subprocess.run(
        [sys.executable, "-m", "reasoning_distill.cli.main", "verify", "--samples", str(store)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{30 - kept} samples verified now, {kept} already" in proc.stdout
    keys = [json.loads(line)["problem_id"] for line in verdicts.read_text().splitlines()]
    assert sorted(keys) == sorted(f"c{i}" for i in range(30))  # every key exactly once


def test_a_torn_verdict_line_is_cut_and_redone(tmp_path, capsys):
    store = make_store(tmp_path / "gen", mixed_samples())
    assert _verify(capsys, "--samples", str(store))[0] == 0
    path = store / "verdicts.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]) + lines[3][:20])  # a kill mid-write
    assert main(["verify", "--samples", str(store)]) == 0
    assert "1 samples verified now, 3 already" in capsys.readouterr().out
    got = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(got) == 4 and len({(r["problem_id"], r["sample_index"]) for r in got}) == 4
    assert os.path.getsize(path) > 0


def test_a_second_verify_on_one_store_is_refused(tmp_path, capsys):
    from reasoning_distill.verification import VerdictStore, VerifyOptions

    store = make_store(tmp_path / "gen", mixed_samples())
    with VerdictStore.open(store, VerifyOptions().config()):  # a run in progress
        code, err = _verify(capsys, "--samples", str(store))
    assert code == 2 and "another process is writing verdicts" in err
    assert _verify(capsys, "--samples", str(store))[0] == 0
