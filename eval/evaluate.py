"""Evaluate one model on benchmarks under one protocol: sample, verify, keep every verdict.

The samples go through the same resumable generation store as training data, so an
interrupted evaluation resumes where it stopped; the verdicts are written beside them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reasoning_distill.progress import Progress
from reasoning_distill.records import Problem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Protocol:
    """Everything that must be equal for two evaluations to be comparable."""

    n: int = 4
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 128
    seed: int = 1234
    engine: str = "hf"

    def sampling(self):
        from reasoning_distill.generation.engine import SamplingParams

        return SamplingParams(
            n=self.n,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=self.seed,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_model(
    engine,
    benchmarks: Mapping[str, Sequence[Problem]],
    protocol: Protocol,
    out_dir: str | Path,
    workers: int | None = None,
    progress: Progress | None = None,
) -> dict[str, dict[str, list[bool]]]:
    """Per benchmark, per problem id, whether each of the `protocol.n` samples is correct.

    Samples are stored under `out_dir/<benchmark>/` and verdicts in
    `out_dir/<benchmark>/verdicts.jsonl` (one row per sample, with its reason).
    """
    from reasoning_distill.generation.job import run_generation
    from reasoning_distill.generation.store import load_samples
    from reasoning_distill.verification import verify_samples

    out_dir = Path(out_dir)
    results: dict[str, dict[str, list[bool]]] = {}
    for name, problems in benchmarks.items():
        bench_dir = out_dir / name
        run_generation(problems, engine, protocol.sampling(), bench_dir, progress=progress)
        wanted = {p.id for p in problems}
        samples = [s for s in load_samples(bench_dir) if s.problem_id in wanted]
        samples.sort(key=lambda s: (s.problem_id, s.sample_index))
        verdicts = verify_samples(samples, workers=workers, progress=progress)
        per_problem: dict[str, list[bool]] = {p.id: [] for p in problems}
        for s, v in zip(samples, verdicts, strict=True):
            per_problem[s.problem_id].append(v.correct)
        short = [pid for pid, v in per_problem.items() if len(v) != protocol.n]
        if short:
            raise RuntimeError(
                f"{bench_dir}: {len(short)} problems lack samples (e.g. {short[0]}); rerun to resume"
            )
        _write_verdicts(bench_dir / "verdicts.jsonl", samples, verdicts)
        results[name] = per_problem
    return results


def _write_verdicts(path: Path, samples, verdicts) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        for s, v in zip(samples, verdicts, strict=True):
            row = {"problem_id": s.problem_id, "sample_index": s.sample_index, **v.to_dict()}
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, path)
