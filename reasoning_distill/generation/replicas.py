"""In-process data parallelism: engine replicas in worker processes on this machine.

`Replicas(factory, n)` starts `n` spawned processes; each calls `factory()` once to build its
engine state (a vLLM `LLM`, a transformers model), then runs jobs: `run(work, payloads)` hands
each payload to the next idle replica, where `work(state, payload)` yields parts that come
back as they are made. Both the vLLM and the transformers engine use it; Ray is the path
across machines (`ray_job.py`).

`factory`, `work` and `shutdown` must be picklable (module-level functions, or `functools.partial`s of
them). Each replica can get its own environment (`CUDA_VISIBLE_DEVICES` for its GPUs), set
before `factory` runs. Replicas ignore Ctrl-C: the parent decides when they stop. A caller
that stops reading `run` early stops the jobs in flight (the replica closes its `work`
generator, so vLLM aborts its requests) and the replicas stay usable; one that does not stop
within `stop_grace_s` (2 s after Ctrl-C) is killed and the whole set is closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

_STOP = "stop"  # parent -> replica: end the job in flight


class ReplicaError(RuntimeError):
    """A replica failed to start, died, or failed in a way that cannot cross processes."""


def _replica_main(
    conn: Any,
    factory: Callable[[], Any],
    shutdown: Callable[[Any], None] | None,
    env: dict[str, str],
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(env)
    try:
        state = factory()
    except BaseException as e:
        conn.send(("error", _portable(e)))
        return
    conn.send(("ready", None))
    try:
        closing = False
        while not closing:
            try:
                msg = conn.recv()
            except EOFError:  # the parent is gone
                break
            if msg is None:
                break
            if msg == _STOP:  # a stop that arrived after its job had ended
                continue
            work, payload = msg
            parts = work(state, payload)
            try:
                status = "done"
                for part in parts:
                    conn.send(("part", part))
                    if conn.poll():
                        msg = conn.recv()
                        closing = msg is None
                        if msg is None or msg == _STOP:
                            status = "stopped"
                            break
                conn.send((status, None))
            except (BrokenPipeError, EOFError):
                break
            except Exception as e:
                conn.send(("error", _portable(e)))
            finally:
                close = getattr(parts, "close", None)
                if callable(close):
                    close()
    finally:
        if shutdown is not None:
            with contextlib.suppress(Exception):
                shutdown(state)
        with contextlib.suppress(OSError):
            conn.send(("closed", None))
    # The state is shut down: skip the interpreter's teardown of torch and friends, which
    # takes seconds and would hold up the parent's exit for nothing. multiprocessing's own
    # exit step still runs (it releases the semaphores that torch's imports created).
    from multiprocessing import util

    with contextlib.suppress(Exception):
        util._exit_function()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _kill(procs: list[Any]) -> None:
    """End replicas nobody closed (a second Ctrl-C during `close`, say): multiprocessing would
    otherwise wait for them at interpreter exit, forever, since they wait for work."""
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=1)


def _portable(e: BaseException) -> BaseException:
    """`e` itself if it survives pickling, else a `ReplicaError` with its text."""
    try:
        pickle.loads(pickle.dumps(e))
    except Exception:
        return ReplicaError(f"{type(e).__name__}: {e}")
    return e


class Replicas:
    """`n` worker processes, each holding the state `factory()` built, running jobs on demand.

    Args:
        factory: builds a replica's state, in the replica's process.
        n: how many replicas.
        shutdown: called on the state when the replica ends (vLLM: stop its engine core).
        envs: environment variables per replica (default none).
        name: how messages name the replicas ("vLLM replica 1").
        close_timeout_s: how long `close` waits for a replica to confirm it shut down.
        stop_grace_s: how long a stopped job may take to end before its replica is killed.
    """

    def __init__(
        self,
        factory: Callable[[], Any],
        n: int,
        envs: list[dict[str, str]] | None = None,
        *,
        shutdown: Callable[[Any], None] | None = None,
        name: str = "replica",
        close_timeout_s: float = 60.0,
        stop_grace_s: float = 10.0,
    ) -> None:
        import multiprocessing as mp

        if n < 1:
            raise ValueError(f"need at least one replica, got {n}")
        envs = envs if envs is not None else [{} for _ in range(n)]
        if len(envs) != n:
            raise ValueError(f"{len(envs)} environments for {n} replicas")
        self.name = name
        self.close_timeout_s = close_timeout_s
        self.stop_grace_s = stop_grace_s
        ctx = mp.get_context("spawn")  # CUDA, vLLM and torch threads do not survive fork
        self._workers: list[tuple[Any, Any]] = []
        try:
            for env in envs:
                parent, child = ctx.Pipe()
                # Not daemonic: a vLLM replica starts processes of its own.
                proc = ctx.Process(
                    target=_replica_main, args=(child, factory, shutdown, env), daemon=False
                )
                proc.start()
                child.close()
                self._workers.append((proc, parent))
            self._finalizer = weakref.finalize(self, _kill, [p for p, _ in self._workers])
            for rank in range(n):
                status, detail = self._recv(rank)
                if status != "ready":
                    raise ReplicaError(f"{self.name} {rank} failed to start: {detail}")
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return len(self._workers)

    @property
    def closed(self) -> bool:
        return not self._workers

    def _recv(self, rank: int, timeout: float | None = None) -> tuple[str, Any]:
        proc, conn = self._workers[rank]
        waited = 0.0
        while not conn.poll(1.0):
            waited += 1.0
            if not proc.is_alive():
                raise ReplicaError(f"{self.name} {rank} died (exit code {proc.exitcode})")
            if timeout is not None and waited >= timeout:
                raise TimeoutError(f"{self.name} {rank} did not answer in {timeout:.0f} s")
        try:
            return conn.recv()
        except EOFError:
            proc.join(timeout=5)  # reap it, for its exit code
            raise ReplicaError(f"{self.name} {rank} died (exit code {proc.exitcode})") from None

    def run(
        self, work: Callable[[Any, Any], Iterable[Any]], payloads: Iterable[Any]
    ) -> Iterator[tuple[int, Any]]:
        """Run `work(state, payload)` for every payload on the next idle replica.

        Yields `(payload number, part)` for each part, as the parts arrive. A failure in a
        replica is raised here (its exception, when it can cross processes).
        """
        from multiprocessing.connection import wait

        if self.closed:
            raise ReplicaError(f"these {self.name}s are closed")
        todo = enumerate(payloads)
        idle = list(range(len(self._workers)))
        busy: dict[int, int] = {}  # replica -> payload number

        def feed() -> None:
            while idle:
                nxt = next(todo, None)
                if nxt is None:
                    return
                rank = idle.pop(0)
                self._workers[rank][1].send((work, nxt[1]))
                busy[rank] = nxt[0]

        grace = self.stop_grace_s
        try:
            feed()
            while busy:
                conns = {self._workers[r][1]: r for r in busy}
                ready = wait(list(conns), timeout=1.0)
                if not ready:
                    for r in busy:
                        proc = self._workers[r][0]
                        if not proc.is_alive():
                            raise ReplicaError(f"{self.name} {r} died (exit code {proc.exitcode})")
                for conn in ready:
                    rank = conns[conn]
                    status, payload = self._recv(rank)
                    if status == "part":
                        yield busy[rank], payload
                    elif status in ("done", "stopped"):
                        del busy[rank]
                        idle.append(rank)
                    else:
                        del busy[rank]
                        idle.append(rank)
                        if isinstance(payload, BaseException):
                            raise payload
                        raise ReplicaError(f"{self.name} {rank} failed: {payload}")
                feed()
        except KeyboardInterrupt:
            grace = min(grace, 2.0)  # the user is waiting, and work in flight is lost anyway
            raise
        finally:
            if busy:
                self._stop(busy, grace)

    def _stop(self, busy: dict[int, int], grace: float) -> None:
        """End the jobs in flight; close everything if a replica does not stop in `grace` s."""
        for r in busy:
            with contextlib.suppress(OSError):
                self._workers[r][1].send(_STOP)
        try:
            for r in busy:
                while True:
                    status, _ = self._recv(r, timeout=grace)
                    if status != "part":
                        break
        except (ReplicaError, TimeoutError) as e:
            logger.warning("%s; closing every %s", e, self.name)
            self.close(timeout_s=0)

    def close(self, timeout_s: float | None = None) -> None:
        """Ask every replica to shut down, wait for each to confirm, then end the processes."""
        timeout_s = self.close_timeout_s if timeout_s is None else timeout_s
        for _, conn in self._workers:
            with contextlib.suppress(OSError):
                conn.send(None)
        for proc, conn in self._workers:
            # Each replica confirms once its state is closed (vLLM: its engine core is down);
            # then the process may linger in exit handlers, which is harmless to cut short.
            with contextlib.suppress(OSError, EOFError):
                while timeout_s > 0 and proc.is_alive() and conn.poll(timeout_s):
                    if conn.recv()[0] == "closed":
                        break
        deadline = time.monotonic() + (3 if timeout_s > 0 else 0.5)
        for proc, conn in self._workers:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()
        self._workers = []

    def __enter__(self) -> Replicas:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
