"""The worker pool: order kept, a hung item is killed from outside, a dying worker replaced."""

import os
from pathlib import Path

from reasoning_distill.verifiers.pool import WorkerPool

HERE = Path(__file__).parent


def _pool(n: int) -> WorkerPool:
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return WorkerPool("_pool_targets:misbehave", n, env=env)


def _run(pool, payloads, deadline_s=2.0):
    return pool.map(
        payloads,
        deadline_s=deadline_s,
        on_timeout=lambda p: {"timeout": p["x"]},
        on_crash=lambda p, err: {"crash": p["x"], "err": err},
    )


def test_order_and_reuse_of_warm_workers():
    pool = _pool(2)
    try:
        out = _run(pool, [{"kind": "ok", "x": i} for i in range(200)])
        assert out == [{"x": i} for i in range(200)]
        pids = {w.proc.pid for w in pool.workers}
        out = _run(pool, [{"kind": "ok", "x": i} for i in range(10)])
        assert out == [{"x": i} for i in range(10)]
        assert {w.proc.pid for w in pool.workers} == pids  # warm workers reused
    finally:
        pool.close()


def test_hung_item_is_killed_and_the_batch_goes_on():
    pool = _pool(2)
    try:
        payloads = [{"kind": "ok", "x": i} for i in range(20)]
        payloads[3] = {"kind": "hang", "x": 3}
        payloads[11] = {"kind": "hang", "x": 11}
        out = _run(pool, payloads, deadline_s=1.0)
        assert out[3] == {"timeout": 3} and out[11] == {"timeout": 11}
        assert [o for i, o in enumerate(out) if i not in (3, 11)] == [
            {"x": i} for i in range(20) if i not in (3, 11)
        ]
        assert pool.restarts == 2
        for w in pool.workers:
            assert w.proc.poll() is None  # replacements are alive
    finally:
        pool.close()
    for w in pool.workers:
        assert w.proc.poll() is not None


def test_dying_worker_and_raising_item_become_results():
    pool = _pool(1)
    try:
        payloads = [{"kind": "ok", "x": 0}, {"kind": "die", "x": 1}, {"kind": "raise", "x": 2}]
        payloads.append({"kind": "ok", "x": 3})
        out = _run(pool, payloads)
        assert out[0] == {"x": 0} and out[3] == {"x": 3}
        assert out[1]["crash"] == 1 and "rc=3" in out[1]["err"]
        assert out[2]["crash"] == 2 and "bad item" in out[2]["err"]
    finally:
        pool.close()
