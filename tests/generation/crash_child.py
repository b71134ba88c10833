"""A generation job run as a child process by the crash test (killed with SIGKILL mid-run)."""

from __future__ import annotations

import sys


def main(model: str, out: str, n_problems: int) -> None:
    from reasoning_distill.generation.engine import SamplingParams
    from reasoning_distill.generation.hf_engine import HFEngine
    from reasoning_distill.generation.job import run_generation
    from reasoning_distill.records import Problem

    problems = [
        Problem(id=f"q{i}", prompt=f"What is {i} + {2 * i}?", gold=str(3 * i))
        for i in range(n_problems)
    ]
    engine = HFEngine(model, batch_size=4)
    # chunk_size=1: each problem's samples are committed before the next is asked for.
    run_generation(problems, engine, SamplingParams(n=2, max_tokens=16, seed=7), out, chunk_size=1)
    print("finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
