"""`rdistill eval` on real files and a real (tiny) model (build tests: tests/cli/test_build.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks"


def _rdistill(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reasoning_distill.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
