"""Sandbox overhead per program: `run_python` vs a bare `subprocess.run([python, file])`.

The same small test programs (a function plus asserts, as a toy code task) run three ways in
one process, serially, on the same interpreter the sandbox uses:
- bare: write the file, `subprocess.run([python, file], capture_output=True, timeout=...)`;
- sandbox, warm: `run_python` on a warm sandbox (the default path);
- sandbox, cold: a fresh sandbox per program (what reuse saves);
then `verify_code_batch` over the same tasks with all CPUs (programs per second).

  python benchmarks/bench_sandbox.py [--n 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def programs(n: int) -> list[str]:
    return [
        f"def f(x):\n    return x * {i % 7} + {i}\n\nassert f(2) == {2 * (i % 7) + i}\n"
        f"assert f(0) == {i}\nprint('ok')\n"
        for i in range(n)
    ]


def bench_bare(python: str, progs: list[str]) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as d:
        for i, code in enumerate(progs):
            t0 = time.perf_counter()
            path = Path(d) / f"p{i}.py"
            path.write_text(code)
            r = subprocess.run([python, str(path)], capture_output=True, timeout=10)
            times.append(time.perf_counter() - t0)
            assert r.returncode == 0 and r.stdout == b"ok\n", r
    return times


def bench_sandbox(progs: list[str], cold: bool) -> list[float]:
    from reasoning_distill.verifiers import close_sandboxes, run_python

    times = []
    for code in progs:
        if cold:
            close_sandboxes()
        t0 = time.perf_counter()
        r = run_python(code, timeout_s=10)
        times.append(time.perf_counter() - t0)
        assert r.returncode == 0 and r.stdout == "ok\n", r
    return times


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=200)
    args = p.parse_args()

    from reasoning_distill.verifiers import run_python, sandbox_info, verify_code_batch

    info = sandbox_info()
    python = info["python"]
    print(f"isolation: {info['isolation']}, interpreter: {python}, {os.cpu_count()} CPUs")
    progs = programs(args.n)
    run_python("pass")  # warm one sandbox
    bench_bare(python, progs[:5])

    # interleave rounds so machine load drifts affect all three alike
    bare, warm, cold = [], [], []
    chunk = max(1, args.n // 5)
    for k in range(0, args.n, chunk):
        part = progs[k : k + chunk]
        bare += bench_bare(python, part)
        warm += bench_sandbox(part, cold=False)
        cold += bench_sandbox(part[: max(1, len(part) // 4)], cold=True)
    med = statistics.median
    print(
        f"bare subprocess.run   : median {med(bare) * 1e3:6.1f} ms  mean {statistics.fmean(bare) * 1e3:6.1f} ms"
    )
    print(
        f"sandbox, warm         : median {med(warm) * 1e3:6.1f} ms  mean {statistics.fmean(warm) * 1e3:6.1f} ms"
    )
    print(
        f"sandbox, cold         : median {med(cold) * 1e3:6.1f} ms  mean {statistics.fmean(cold) * 1e3:6.1f} ms"
    )
    print(
        f"ratio warm / bare     : {med(warm) / med(bare):6.2f} x  (per-program overhead {1e3 * (med(warm) - med(bare)):+.1f} ms)"
    )
    print(f"ratio cold / bare     : {med(cold) / med(bare):6.2f} x")

    tasks = [
        {"kind": "assert", "code": "assert f(2) == f(2)", "entry_point": None, "setup": ""}
    ] * args.n
    comps = [f"```python\n{c}\n```" for c in progs]
    t0 = time.perf_counter()
    verdicts = verify_code_batch(comps, tasks)
    dt = time.perf_counter() - t0
    assert all(v.correct for v in verdicts), [v for v in verdicts if not v.correct][:3]
    t0 = time.perf_counter()
    bench_bare(python, progs)
    dt_bare = time.perf_counter() - t0
    print(
        f"verify_code_batch ({os.cpu_count()} workers): {args.n / dt:6.1f} programs/s "
        f"vs bare serial {args.n / dt_bare:6.1f} programs/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
