"""`rdistill generate` given what a hostile or careless user gives it: each case ends with
exit code 2 (130 for Ctrl-C), one error line and no traceback, before any model loads, and
nothing already written is lost or changed.

Argument, path and input cases run in-process through the CLI's `main`; interrupt, kill,
concurrent runs and a full disk run a real `rdistill generate` process on the tiny model.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reasoning_distill.cli.main import main
from reasoning_distill.generation.store import Store, load_samples
from tests.cli._disk import tmpfs
from tests.generation.cli_args import generate_argv


def write_problems(path: Path, n: int, prefix: str = "q") -> Path:
    rows = [
        {"id": f"{prefix}{i}", "problem": f"What is {i} + 4?", "answer": str(i + 4)}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def one_error_line(err: str) -> str:
    """The error message: one `rdistill generate: error:` line (a list of rows may follow)."""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    starts = [i for i, line in enumerate(lines) if "error:" in line]
    assert len(starts) == 1 and lines[starts[0]].startswith("rdistill generate: error: "), err
    return "\n".join(lines[starts[0] :])


# (name, extra flags, what the one line must say). The model and paths are valid.
BAD_ARGUMENTS = [
    ("n zero", ["--n", "0"], "--n must be >= 1, got 0"),
    ("n negative", ["--n", "-3"], "--n must be >= 1, got -3"),
    ("max tokens zero", ["--max-tokens", "0"], "--max-tokens must be >= 1, got 0"),
    ("negative temperature", ["--temperature", "-0.5"], "--temperature must be >= 0"),
    ("top-p zero", ["--top-p", "0"], "--top-p must be in (0, 1], got 0.0"),
    ("top-p above one", ["--top-p", "1.5"], "--top-p must be in (0, 1], got 1.5"),
    ("min-p one", ["--min-p", "1"], "--min-p must be in [0, 1)"),
    ("negative logprobs", ["--logprobs", "-1"], "--logprobs must be >= 0"),
    ("empty stop string", ["--stop", ""], "--stop strings must not be empty"),
    ("chunk size zero", ["--chunk-size", "0"], "--chunk-size must be >= 1, got 0"),
    ("batch size zero", ["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    ("data parallel zero", ["--data-parallel", "0"], "--data-parallel must be >= 1, got 0"),
    ("limit zero", ["--limit", "0"], "--limit must be >= 1, got 0"),
    ("negative ray", ["--ray", "-1"], "--ray must be >= 0"),
    ("absurd n", ["--n", "1000000000"], "5 problems x 1,000,000,000 samples each"),
]


@pytest.mark.parametrize(
    ("extra", "expected"), [c[1:] for c in BAD_ARGUMENTS], ids=[c[0] for c in BAD_ARGUMENTS]
)
def test_bad_arguments_are_one_line_before_anything_loads(
    tiny_model_dir, tmp_path, capsys, extra, expected, no_model_loads
):
    inp = write_problems(tmp_path / "p.jsonl", 5)
    out = tmp_path / "out"
    # generate_argv sets --n 2 and --batch-size 8; later flags win in argparse.
    assert main(generate_argv(tiny_model_dir, inp, out, *extra)) == 2
    assert expected in one_error_line(capsys.readouterr().err)
    assert not out.exists()  # refused before planning or loading (no_model_loads)


def _existing_file(tmp_path: Path) -> Path:
    f = tmp_path / "taken.txt"
    f.write_text("mine\n")
    return f


def _under_a_file(tmp_path: Path) -> Path:
    return _existing_file(tmp_path) / "out"


def _foreign_folder(tmp_path: Path) -> Path:
    d = tmp_path / "project"
    d.mkdir()
    (d / "notes.md").write_text("do not touch\n")
    return d


BAD_OUTPUTS = [
    ("an existing file", _existing_file, "exists and is not a folder"),
    ("a path under a file", _under_a_file, "is a file, so no folder can be made under it"),
    ("a folder of other files", _foreign_folder, "holds files this command did not write"),
]


@pytest.mark.parametrize(
    ("make_out", "expected"), [c[1:] for c in BAD_OUTPUTS], ids=[c[0] for c in BAD_OUTPUTS]
)
def test_bad_out_paths_are_refused_and_left_untouched(
    tiny_model_dir, tmp_path, capsys, make_out, expected
):
    inp = write_problems(tmp_path / "p.jsonl", 3)
    out = make_out(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert main(generate_argv(tiny_model_dir, inp, out)) == 2
    assert expected in one_error_line(capsys.readouterr().err)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def _bytes(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _row(i: int, **kw) -> bytes:
    return json.dumps({"id": f"q{i}", "problem": f"What is {i}?", "answer": "1", **kw}).encode()


# (name, input file name, content, what the one line must say)
BAD_INPUTS = [
    ("missing file", "absent.jsonl", None, "no such file or folder"),
    ("empty file", "p.jsonl", b"", "no usable problems"),
    (
        "invalid UTF-8",
        "p.jsonl",
        _bytes([_row(0), _row(1), b'{"id": "q2", "problem": "caf\xe9"}']),
        "p.jsonl:3: not valid UTF-8 (byte 0xe9",
    ),
    (
        "invalid UTF-8 in .json",
        "p.json",
        b'[{"id": "a", "problem": "ok"},\n {"id": "b", "problem": "\xff"}]',
        "p.json:2: not valid UTF-8",
    ),
    (
        "malformed JSON line",
        "p.jsonl",
        _bytes([_row(0), b'{"id": "q1", "problem": ']),
        "p.jsonl:2: not valid JSON",
    ),
    (
        "a row that is a list",
        "p.jsonl",
        _bytes([_row(0), b'["q1", "What?"]']),
        "p.jsonl:2: expected a JSON object, got list",
    ),
    (
        "a prompt that is a number",
        "p.jsonl",
        _bytes([_row(0), _row(1, problem=42)]),
        "field 'problem' is not text (int): rows 2",
    ),
    (
        "an id that is a list",
        "p.jsonl",
        _bytes([_row(0), _row(1, id=[1, 2])]),
        "field 'id' is not a string or number (list): rows 2",
    ),
    ("duplicate ids", "p.jsonl", _bytes([_row(0), _row(0)]), "duplicated: 'q0'"),
]


@pytest.mark.parametrize(
    ("name", "content", "expected"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_inputs_name_the_file_and_line(
    tiny_model_dir, tmp_path, capsys, name, content, expected
):
    inp = tmp_path / name
    if content is not None:
        inp.write_bytes(content)
    out = tmp_path / "out"
    assert main(generate_argv(tiny_model_dir, inp, out)) == 2
    assert expected in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def _no_config(tmp_path: Path) -> str:
    (tmp_path / "not-a-model").mkdir()
    return str(tmp_path / "not-a-model")


BAD_MODELS = [
    ("absent folder", lambda tmp: str(tmp / "no" / "such" / "model"), "does not exist"),
    ("folder without config.json", _no_config, "is not a model folder (no config.json)"),
    ("hub id while offline", lambda tmp: "some-org/no-such-model", "HF_HUB_OFFLINE is set"),
]


@pytest.mark.parametrize(
    ("make_model", "expected"), [c[1:] for c in BAD_MODELS], ids=[c[0] for c in BAD_MODELS]
)
def test_bad_models_fail_fast_with_the_reason(
    tmp_path, capsys, monkeypatch, make_model, expected, no_model_loads
):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    inp = write_problems(tmp_path / "p.jsonl", 2)
    assert main(generate_argv(make_model(tmp_path), inp, tmp_path / "out")) == 2
    assert expected in one_error_line(capsys.readouterr().err)  # and no model load was tried


def test_an_unreachable_server_is_one_line(tmp_path, capsys):
    from tests.generation.servers import free_port

    inp = write_problems(tmp_path / "p.jsonl", 2)
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    argv = generate_argv("served-model", inp, tmp_path / "out", "--engine", "openai")
    assert main([*argv, "--base-url", url]) == 2
    assert f"cannot reach the OpenAI-compatible server at {url}" in one_error_line(
        capsys.readouterr().err
    )


def test_an_engine_that_fails_to_start_promises_no_samples(
    tiny_model_dir, tmp_path, capsys, monkeypatch
):
    # vLLM's CPU build died at start; the message said samples were kept in a folder that
    # was never made.
    from reasoning_distill.generation import factory

    def fails_to_start(*args, **kwargs):
        raise RuntimeError("Engine core initialization failed")

    monkeypatch.setattr(factory, "make_engine", fails_to_start)
    inp, out = write_problems(tmp_path / "p.jsonl", 2), tmp_path / "out"
    assert main(generate_argv(tiny_model_dir, inp, out)) == 1
    err = capsys.readouterr().err
    assert "Engine core initialization failed" in err and "kept in" not in err
    assert "Nothing was written" in err and not out.exists()

    # Failing after its first chunk: the message counts what is kept.
    monkeypatch.undo()
    from reasoning_distill.generation.hf_engine import HFEngine

    real, calls = HFEngine.generate, []

    def dies_second(self, requests, params, progress=None):
        calls.append(len(requests))
        if len(calls) > 1:
            raise RuntimeError("the engine died")
        return real(self, requests, params)

    monkeypatch.setattr(HFEngine, "generate", dies_second)
    assert main(generate_argv(tiny_model_dir, inp, out, "--chunk-size", "1")) == 1
    assert f"2 samples written so far are kept in {out}" in capsys.readouterr().err
    assert len(load_samples(out)) == 2


def test_a_folder_held_by_a_running_job_is_refused_and_kept(tiny_model_dir, tmp_path, capsys):
    inp = write_problems(tmp_path / "p.jsonl", 3)
    out = tmp_path / "out"
    assert main(generate_argv(tiny_model_dir, inp, out)) == 0
    before = snapshot(out)
    manifest = Store(out).manifest()
    # Another job (here: this test) holds the folder.
    with Store.open(out, manifest["identity"], format=manifest["format"]):
        assert main(generate_argv(tiny_model_dir, inp, out)) == 2
        assert "another generation job is writing to this folder" in one_error_line(
            capsys.readouterr().err
        )
    assert snapshot(out) == before


# ---- real processes: interrupt, kill, concurrent runs, a full disk ----------------------------


def rdistill(argv: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "reasoning_distill.cli.main", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def stored_lines(out: Path) -> list[bytes]:
    lines: list[bytes] = []
    for shard in sorted(out.glob("samples-*.jsonl")):
        lines += [line for line in shard.read_bytes().split(b"\n")[:-1] if line.strip()]
    return lines


def wait_for_samples(
    out: Path, proc: subprocess.Popen, at_least: int, timeout: float = 240
) -> None:
    deadline = time.monotonic() + timeout
    while len(stored_lines(out)) < at_least:
        assert proc.poll() is None, f"job ended before it could be stopped: {proc.communicate()}"
        assert time.monotonic() < deadline, "no samples written in time"
        time.sleep(0.2)


def keys(out: Path) -> list[tuple[str, int]]:
    return sorted((s.problem_id, s.sample_index) for s in load_samples(out))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "replicas"),
    [(signal.SIGINT, 1), (signal.SIGKILL, 1), (signal.SIGINT, 2)],
    ids=["ctrl-c", "kill", "ctrl-c with 2 replicas"],
)
def test_interrupted_or_killed_run_keeps_what_finished_and_the_rerun_completes(
    tiny_model_dir, tmp_path, sig, replicas
):
    inp = write_problems(tmp_path / "p.jsonl", 60)
    out = tmp_path / "out"
    argv = generate_argv(
        tiny_model_dir, inp, out, "--chunk-size", "1", "--data-parallel", str(replicas)
    )
    proc = rdistill(argv)
    try:
        wait_for_samples(out, proc, at_least=4)
        # A second run on the same folder while the first writes: refused before it loads
        # a model (the timeout only guards against a hang).
        second = rdistill(argv)
        _, err2 = second.communicate(timeout=120)
        assert second.returncode == 2, err2
        assert "another generation job is writing to this folder" in one_error_line(err2)
        kept_before = stored_lines(out)
        proc.send_signal(sig)
        # Replicas mid-batch get 2 s, then they are killed (the timeout guards against a hang).
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "interrupted" in one_error_line(err)
    else:
        assert proc.returncode == -signal.SIGKILL
    kept = stored_lines(out)
    assert kept[: len(kept_before)] == kept_before  # nothing written was lost or changed
    rerun = rdistill(argv)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    final = stored_lines(out)
    assert len(final) == len(
        {(json.loads(x)["problem_id"], json.loads(x)["sample_index"]) for x in final}
    )
    assert keys(out) == sorted((f"q{i}", k) for i in range(60) for k in range(2))
    assert set(kept) <= set(final)


@pytest.fixture()
def small_disk(tmp_path):
    """A 2 MiB tmpfs (root only); skipped where mounting is refused."""
    with tmpfs(tmp_path / "disk", "2m") as mnt:
        yield mnt


def fill(mnt: Path, leave: int) -> Path:
    """Fill `mnt` up to `leave` free bytes with a file of ours."""
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    filler = mnt / "filler"
    filler.write_bytes(b"\0" * max(0, free - leave))
    return filler


def raw_keys(out: Path) -> list[tuple[str, int]]:
    """The key of every stored row, duplicates included (JSONL lines and Parquet rows)."""
    import pyarrow.parquet as pq

    found = [
        (json.loads(x)["problem_id"], json.loads(x)["sample_index"]) for x in stored_lines(out)
    ]
    for shard in sorted(out.glob("samples-*.parquet")):
        t = pq.read_table(shard, columns=["problem_id", "sample_index"])
        found += zip(t["problem_id"].to_pylist(), t["sample_index"].to_pylist(), strict=True)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_disk_that_fills_mid_run_ends_in_one_line_and_the_rerun_resumes(
    tiny_model_dir, tmp_path, small_disk, fmt
):
    inp = write_problems(tmp_path / "p.jsonl", 40)
    out = small_disk / "out"
    filler = fill(small_disk, leave=32 * 1024)  # room for the manifest and some samples
    argv = generate_argv(tiny_model_dir, inp, out, "--chunk-size", "2", "--format", fmt)
    proc = rdistill(argv)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 2, err
    line = one_error_line(err)
    assert "No space left on device" in line and str(out) in line
    kept = raw_keys(out)
    assert kept, "the disk filled before any sample was written: leave more room"
    kept_lines = stored_lines(out)
    filler.unlink()
    rerun = rdistill(argv)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    final = raw_keys(out)
    assert set(kept) <= set(final) and set(kept_lines) <= set(stored_lines(out))
    assert sorted(final) == sorted((f"q{i}", k) for i in range(40) for k in range(2))


def test_read_only_folder_is_refused_before_the_model_loads(tiny_model_dir, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        inp = write_problems(tmp_path / "p.jsonl", 2)
        assert main(generate_argv(tiny_model_dir, inp, ro / "out")) == 2
        assert "cannot write in" in one_error_line(capsys.readouterr().err)
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
