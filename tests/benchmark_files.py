"""Where the local copies of the public benchmarks live: `../shared/benchmarks` beside the
checkout. Tests reach them through the `shared_benchmarks` fixture (tests/conftest.py), which
skips a test when the folder is absent (a fresh clone)."""

from __future__ import annotations

from pathlib import Path

SHARED_BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
