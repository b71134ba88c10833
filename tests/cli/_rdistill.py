"""Run `rdistill` as a real process, the way a user does."""

from __future__ import annotations

import subprocess
import sys


def rdistill(
    *args: str, timeout: int = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reasoning_distill.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
