"""A child Python process to kill mid-run, for the crash-safety tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable


def start_child(*argv: str) -> subprocess.Popen:
    """`python argv...` offline, its stdout and stderr together in `child.stdout`."""
    return subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def sigkill_when(
    child: subprocess.Popen,
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    poll_s: float = 0.05,
) -> None:
    """Wait until `ready()` holds, then SIGKILL `child` and reap it.

    Fails with the child's output if it exits first, or with `what` once `timeout` seconds
    pass without `ready()`.
    """
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert child.poll() is None, child.stdout.read().decode()
            assert time.monotonic() < deadline, what
            time.sleep(poll_s)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
