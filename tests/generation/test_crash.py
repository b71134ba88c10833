"""Crash safety with a real SIGKILL: a restarted job completes the exact set of samples."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from reasoning_distill.generation.store import Store, load_samples
from tests.generation.child_process import sigkill_when, start_child

CHILD = Path(__file__).with_name("crash_child.py")
N_PROBLEMS = 12


def _committed_lines(out: Path) -> list[bytes]:
    lines: list[bytes] = []
    for shard in Store(out).shards():
        data = shard.read_bytes()
        lines += data.split(b"\n")[:-1]
    return lines


def _run_child(model: Path, out: Path) -> subprocess.Popen:
    return start_child(str(CHILD), str(model), str(out), str(N_PROBLEMS))


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_gives_every_sample_once(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    child = _run_child(tiny_model_dir, out)
    sigkill_when(
        child,
        lambda: out.exists() and len(_committed_lines(out)) >= 4,
        timeout=180,
        what="child made no progress",
    )
    before = {
        (d["problem_id"], d["sample_index"]): d for d in map(json.loads, _committed_lines(out))
    }
    assert 4 <= len(before) < 2 * N_PROBLEMS, "the kill must land mid-run"
    # Whatever the kill left, make sure a torn last line is present too (a kill inside write()).
    shard = Store(out).shards()[-1]
    with open(shard, "ab") as f:
        f.write(b'{"problem_id": "q9", "sample_index": 1, "seed": 12, "pro')

    child = _run_child(tiny_model_dir, out)
    stdout, _ = child.communicate(timeout=300)
    assert child.returncode == 0, stdout.decode()

    lines = _committed_lines(out)
    rows = [json.loads(line) for line in lines]  # every line is whole JSON: no torn lines
    keys = [(r["problem_id"], r["sample_index"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicated samples"
    assert set(keys) == {(f"q{i}", k) for i in range(N_PROBLEMS) for k in range(2)}
    for shard in Store(out).shards():
        assert shard.read_bytes().endswith(b"\n")
    # Samples written before the kill are kept as they were, not regenerated.
    after = {(r["problem_id"], r["sample_index"]): r for r in rows}
    for key, row in before.items():
        assert after[key] == row
    assert len(load_samples(out)) == 2 * N_PROBLEMS
