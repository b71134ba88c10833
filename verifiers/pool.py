"""A pool of warm worker processes with a deadline per item, enforced from outside.

Why not `multiprocessing`: its spawn / forkserver start methods re-import the caller's
`__main__` (a script without a main guard runs twice), and a worker stuck inside C code
(sympy can be) cannot be interrupted, only killed. Here each worker is a plain subprocess
speaking JSON lines; the parent never blocks on a worker (non-blocking pipes and a
selector), and when the item at the head of a worker's queue runs past its deadline the
worker is killed, that item gets the caller's timeout result, the items queued behind it go
back to the queue, and a fresh worker takes its place. Workers stay warm between calls.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 120.0  # a worker imports sympy first, which is slow on a loaded machine


class _Worker:
    def __init__(self, target: str, env: dict[str, str] | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reasoning_distill.verifiers.pool_worker", target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a Ctrl-C in the terminal goes to the parent only
        )
        os.set_blocking(self.proc.stdin.fileno(), False)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.inbuf = b""
        self.outbuf = b""
        self.ready = False
        self.started = time.monotonic()
        self.inflight: collections.deque[int] = collections.deque()
        self.head_since = 0.0  # when the item at the head of `inflight` became the current one

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for f in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                f.close()
        self.proc.wait()


class WorkerPool:
    """`n` warm workers running `target` ("module:function", payload dict -> JSON result)."""

    def __init__(self, target: str, n: int, env: dict[str, str] | None = None) -> None:
        if n < 1:
            raise ValueError(f"WorkerPool: n must be >= 1, got {n}")
        self.target, self.n, self.env = target, n, env
        self.pid = os.getpid()
        self.workers: list[_Worker] = []
        self.restarts = 0
        self._lock = threading.Lock()  # one map at a time: workers hold per-call state

    def _spawn(self) -> _Worker:
        return _Worker(self.target, self.env)

    def close(self) -> None:
        for w in self.workers:
            w.kill()
        self.workers = []

    def map(self, payloads: Sequence[Any], deadline_s: float, **kw: Any) -> list[Any]:
        """Results for every payload, in order (see `_map`); safe to call from any thread."""
        with self._lock:
            return self._map(payloads, deadline_s, **kw)

    def _map(
        self,
        payloads: Sequence[Any],
        deadline_s: float,
        on_timeout: Callable[[Any], Any],
        on_crash: Callable[[Any, str], Any],
        on_result: Callable[[int, Any], None] | None = None,
        depth: int = 4,
        workers: int | None = None,
    ) -> list[Any]:
        """Results for every payload, in order. `deadline_s` bounds each item's own run time;
        `depth` items are queued per worker so no worker idles waiting for the parent; `workers`
        caps how many of the pool's workers this call uses (the others stay warm)."""
        results: list[Any] = [None] * len(payloads)
        done = [False] * len(payloads)
        pending: collections.deque[int] = collections.deque(range(len(payloads)))
        remaining = len(payloads)
        k = max(1, min(workers or self.n, len(payloads)))
        while len(self.workers) < k:
            self.workers.append(self._spawn())

        def finish(i: int, value: Any) -> None:
            nonlocal remaining
            if not done[i]:
                done[i] = True
                results[i] = value
                remaining -= 1
                if on_result is not None:
                    on_result(i, value)

        def replace(w: _Worker, reason: str) -> None:
            w.kill()
            self.restarts += 1
            for j in reversed(w.inflight):
                pending.appendleft(j)
            idx = self.workers.index(w)
            self.workers[idx] = self._spawn()
            logger.debug("replaced a worker (%s)", reason)

        try:
            while remaining:
                now = time.monotonic()
                sel = selectors.DefaultSelector()
                for w in self.workers[:k]:
                    if w.ready:
                        while pending and len(w.inflight) < depth:
                            i = pending.popleft()
                            if not w.inflight:
                                w.head_since = now
                            w.inflight.append(i)
                            msg = {"id": i, "payload": payloads[i]}
                            w.outbuf += json.dumps(msg).encode() + b"\n"
                    sel.register(w.proc.stdout, selectors.EVENT_READ, w)
                    if w.outbuf:
                        sel.register(w.proc.stdin, selectors.EVENT_WRITE, w)
                # wake up in time for the nearest deadline
                wait = 1.0
                for w in self.workers[:k]:
                    if not w.ready:
                        wait = min(wait, max(0.0, w.started + _START_TIMEOUT_S - now))
                    elif w.inflight:
                        wait = min(wait, max(0.0, w.head_since + deadline_s - now))
                for key, ev in sel.select(timeout=wait):
                    w = key.data
                    if w not in self.workers:
                        continue  # replaced earlier in this round
                    if ev & selectors.EVENT_WRITE:
                        try:
                            n = os.write(w.proc.stdin.fileno(), w.outbuf)
                            w.outbuf = w.outbuf[n:]
                        except (BlockingIOError, BrokenPipeError):
                            pass  # a dead worker shows up as EOF on its stdout
                    if ev & selectors.EVENT_READ:
                        self._read(w, finish, on_crash, payloads, replace)
                sel.close()
                now = time.monotonic()
                for w in list(self.workers[:k]):
                    if not w.ready and now - w.started > _START_TIMEOUT_S:
                        raise RuntimeError(f"worker for {self.target} did not start")
                    if w.ready and w.inflight and now - w.head_since > deadline_s:
                        i = w.inflight.popleft()
                        finish(i, on_timeout(payloads[i]))
                        replace(w, f"item {i} ran past {deadline_s}s")
        except BaseException:
            # an interrupted map leaves workers mid-item: never reuse them
            self.close()
            raise
        return results

    def _read(self, w, finish, on_crash, payloads, replace) -> None:
        try:
            data = os.read(w.proc.stdout.fileno(), 1 << 16)
        except BlockingIOError:
            return
        if not data:  # the worker died (killed by the OOM killer, a segfault in C code...)
            try:  # stdout closes a moment before the exit status is there to read
                rc = w.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                rc = None
            if not w.ready:
                raise RuntimeError(f"worker for {self.target} exited at start (rc={rc})")
            if w.inflight:
                i = w.inflight.popleft()
                finish(i, on_crash(payloads[i], f"worker died (rc={rc})"))
            replace(w, "worker died")
            return
        w.inbuf += data
        *lines, w.inbuf = w.inbuf.split(b"\n")
        for line in lines:
            msg = json.loads(line)
            if msg.get("ready"):
                w.ready = True
                continue
            i = msg["id"]
            if w.inflight and w.inflight[0] == i:
                w.inflight.popleft()
                w.head_since = time.monotonic()
            if "error" in msg:
                finish(i, on_crash(payloads[i], msg["error"]))
            else:
                finish(i, msg["result"])


_POOLS: dict[str, WorkerPool] = {}


def shared_pool(target: str, n: int) -> WorkerPool:
    """The process-wide warm pool for `target`, grown to at least `n` workers (it never
    shrinks, so a one-item call between two batches does not throw warm workers away)."""
    pool = _POOLS.get(target)
    if pool is None or pool.pid != os.getpid():  # a forked child must not share pipes
        pool = _POOLS[target] = WorkerPool(target, n)
    pool.n = max(pool.n, n)
    return pool


def close_shared_pool(target: str) -> None:
    """Stop the warm pool for `target`, if any."""
    pool = _POOLS.pop(target, None)
    if pool is not None and pool.pid == os.getpid():
        pool.close()


@atexit.register
def _close_all() -> None:
    for pool in _POOLS.values():
        if pool.pid == os.getpid():
            pool.close()
