"""The in-process replica mechanism on real worker processes (cheap states, no model)."""

from __future__ import annotations

import functools
import os
import time

import pytest

from reasoning_distill.generation.replicas import ReplicaError, Replicas


def make_state(tag: str) -> dict:
    return {"tag": tag, "pid": os.getpid(), "env": os.environ.get("REPLICA_ENV")}


def fail_to_start() -> dict:
    raise RuntimeError("no GPU for this replica")


def count(state: dict, job: tuple[int, float]):
    """Yield `n` parts, `pause` seconds apart, each naming the replica that made it."""
    n, pause = job
    for i in range(n):
        time.sleep(pause)
        yield (state["pid"], state["env"], i)


def fail_on(state: dict, job: int):
    yield job
    if job == 2:
        raise KeyError(f"job {job} failed in {state['tag']}")


def die(state: dict, job: int):
    yield job
    os._exit(3)


@pytest.fixture(scope="module")
def replicas():
    envs = [{"REPLICA_ENV": "a"}, {"REPLICA_ENV": "b"}]
    with Replicas(functools.partial(make_state, "t"), 2, envs, stop_grace_s=5) as r:
        yield r


def test_every_payload_runs_once_and_parts_stream_back(replicas):
    got = list(replicas.run(count, [(3, 0.0), (2, 0.0), (4, 0.0), (1, 0.0)]))
    by_job: dict[int, list[int]] = {}
    for j, (_, _, i) in got:
        by_job.setdefault(j, []).append(i)
    assert by_job == {0: [0, 1, 2], 1: [0, 1], 2: [0, 1, 2, 3], 3: [0]}
    # Both replicas worked, each in its own process with its own environment.
    pairs = {(pid, env) for _, (pid, env, _) in got}
    assert len(pairs) == 2 and {env for _, env in pairs} == {"a", "b"}
    assert os.getpid() not in {pid for pid, _ in pairs}


def test_a_replicas_exception_is_raised_in_the_caller_and_the_set_stays_usable(replicas):
    with pytest.raises(KeyError, match="job 2 failed in t"):
        list(replicas.run(fail_on, [0, 1, 2, 3]))
    assert [j for j, _ in replicas.run(count, [(1, 0.0)])] == [0]


def test_stopping_early_ends_the_jobs_in_flight_and_the_replicas_take_the_next(replicas):
    # Jobs that never end on their own: the next run completes only if close() ended them.
    parts = replicas.run(count, [(10**9, 0.01), (10**9, 0.01)])
    first = next(parts)
    parts.close()
    assert first[0] in (0, 1)
    assert not replicas.closed
    assert sorted(j for j, _ in replicas.run(count, [(1, 0.0), (1, 0.0)])) == [0, 1]


def test_a_replica_that_dies_is_named():
    with (
        Replicas(functools.partial(make_state, "d"), 1) as r,
        pytest.raises(ReplicaError, match=r"replica 0 died \(exit code 3\)"),
    ):
        list(r.run(die, [0, 1]))


def test_a_replica_that_cannot_start_says_why():
    with pytest.raises(RuntimeError, match="no GPU for this replica"):
        Replicas(fail_to_start, 2)
