"""Verification on a real two-node Ray cluster (two raylets on 127.0.0.1), with the worker node
killed mid-run: every verdict is stored exactly once and equals the serial run's, and the CLI
resumes a run cut short on the same cluster."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

from reasoning_distill.verification import VerifyOptions, read_verdicts, verify_store
from tests.cli._verify_rows import make_store, math_completion

pytestmark = [pytest.mark.ray, pytest.mark.slow]

N = 480  # enough batches of 4 that the kill lands while most are still to come


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray")
    from tests.ray_cluster import two_node_cluster

    with two_node_cluster() as handles:
        yield handles


def samples() -> list[dict]:
    user = [{"role": "user", "content": "What is a + b?"}]
    out = []
    for i in range(N):
        gold = str(i // 4)
        answer = gold if i % 3 else str(i)  # a third wrong (and one in 4 of those right)
        completion = math_completion(answer) if i % 11 else "<think>\nno end"  # some truncated
        out.append(dict(problem_id=f"p{i // 4}", sample_index=i % 4, messages=user,
                        kind="math", gold=gold, completion=completion))  # fmt: skip
    return out


def stored_lines(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "verdicts.jsonl").read_text().splitlines()]


def as_compared(records) -> dict:
    return {k: (r.kind, r.correct, r.reason, r.extracted, r.details) for k, r in records.items()}


def test_a_killed_node_loses_and_duplicates_no_verdict(cluster, tmp_path, caplog):
    from reasoning_distill.verification.ray_verify import ray_grader

    ray, handle, worker = cluster
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    store = make_store(tmp_path / "gen", samples())
    serial = shutil.copytree(store, tmp_path / "serial")
    verify_store(serial, VerifyOptions(), workers=1)
    expected = as_compared(read_verdicts(serial))
    assert len(expected) == N

    at_kill: list[int] = []
    on_worker = f"ready on node {worker.node_id[:12]}"

    def kill_the_worker_node_once_its_actor_works() -> None:
        # The worker node's actor may be placed late on a busy machine (the head's actor
        # alone can write the first verdicts), and a node killed before its actor answered
        # holds no batch to send again: wait for that actor, then for verdicts after it.
        path = store / "verdicts.jsonl"
        deadline = time.monotonic() + 240
        placed_at = None
        while time.monotonic() < deadline:
            done = path.read_bytes().count(b"\n") if path.exists() else 0
            if placed_at is None and any(on_worker in r.getMessage() for r in caplog.records):
                placed_at = done
            if placed_at is not None and done >= max(40, placed_at + 16):
                at_kill.append(done)
                handle.remove_node(worker)
                return
            time.sleep(0.05)

    caplog.set_level("INFO", logger="reasoning_distill.verification.ray_verify")
    killer = threading.Thread(target=kill_the_worker_node_once_its_actor_works)
    killer.start()
    grade = ray_grader(num_actors=2, batch_size=4)
    run = verify_store(store, VerifyOptions(), grade=grade)
    killer.join()

    assert at_kill and at_kill[0] < N, "the node died while verdicts were still to come"
    assert any(on_worker in r.getMessage() for r in caplog.records)
    assert "its batch of 4 items is sent again" in caplog.text  # the dead actor's work
    assert len([n for n in ray.nodes() if n["Alive"]]) == 1
    assert run.verified == N and run.already == 0
    keys = [(r["problem_id"], r["sample_index"]) for r in stored_lines(store)]
    assert len(keys) == len(set(keys)) == N  # each verdict present exactly once
    assert as_compared(read_verdicts(store)) == expected

    # A job cut short (its driver killed mid-append: the last line torn), resumed by the CLI
    # joining the same cluster: only the missing verdicts are made, on the surviving node.
    lines = (store / "verdicts.jsonl").read_bytes().split(b"\n")[:-1]
    keep = N // 2
    (store / "verdicts.jsonl").write_bytes(
        b"".join(x + b"\n" for x in lines[:keep]) + lines[keep][:30]
    )
    cmd = [sys.executable, "-m", "reasoning_distill.cli.main", "verify", "--samples", str(store)]
    cmd += ["--ray", "1", "--address", ray.get_runtime_context().gcs_address]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{N - keep} samples verified now, {keep} already" in proc.stdout, proc.stdout[-2000:]
    keys = [(r["problem_id"], r["sample_index"]) for r in stored_lines(store)]
    assert len(keys) == len(set(keys)) == N
    assert as_compared(read_verdicts(store)) == expected


def untimed(value):
    """`value` without its measured times (`wall_s`), which differ from run to run."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k != "wall_s"}
    if isinstance(value, list | tuple):
        return type(value)(untimed(v) for v in value)
    return value


def test_code_is_verified_in_each_nodes_sandbox_as_the_serial_run(cluster, tmp_path):
    from tests.conftest import _bwrap_starts

    if not _bwrap_starts():
        pytest.skip("bubblewrap cannot start here: the Ray actors would refuse code")
    from reasoning_distill.verification.ray_verify import ray_grader
    from tests.cli._verify_rows import PLUS3, code_completion

    user = [{"role": "user", "content": "Write f(x) = x + 3."}]
    bodies = ["return x + 3", "return x", "while True: pass", "raise ValueError", "return 5"]
    rows = [dict(problem_id=f"c{i // 4}", sample_index=i % 4, messages=user, kind="code",
                 gold=PLUS3, completion=code_completion(bodies[i % len(bodies)]))
            for i in range(24)]  # fmt: skip
    store = make_store(tmp_path / "gen", rows)
    serial = shutil.copytree(store, tmp_path / "serial")
    options = VerifyOptions(code_timeout_s=2)
    verify_store(serial, options, workers=1)
    expected = untimed(as_compared(read_verdicts(serial)))
    assert {r[1] for r in expected.values()} == {True, False}  # right and wrong programs
    assert {r[2] for r in expected.values()} >= {"ok", "timeout"}

    run = verify_store(store, options, grade=ray_grader(num_actors=2, batch_size=3))
    assert run.verified == 24
    assert untimed(as_compared(read_verdicts(store))) == expected
    text = (store / "verdicts.jsonl").read_text()
    assert set(re.findall(r'"isolation": "([^"]+)"', text)) == {"bubblewrap"}  # each node's own
