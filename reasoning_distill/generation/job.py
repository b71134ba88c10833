"""The generation job: problems in, a resumable folder of samples out.

spec (`spec.py`) -> store opened through it -> requests for the samples not yet stored
(`plan.py`) -> engine -> `Sample` records (`samples.py`) -> store -> summary (`summary.py`).
Engines that stream get every request at once and their samples are written every couple of
seconds; other engines get fixed chunks, each written before the next is asked for. A kill
loses at most what was in flight, and a restart with the same spec makes exactly the missing
samples.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reasoning_distill.errors import ConfigError
from reasoning_distill.generation.engine import (
    Engine,
    GenerationRequest,
    GenerationResult,
    PartialResultsError,
    SamplingParams,
    StreamingEngine,
    streams,
)
from reasoning_distill.generation.plan import count_samples, plan_requests
from reasoning_distill.generation.samples import results_to_samples
from reasoning_distill.generation.spec import JobSpec
from reasoning_distill.generation.store import Store
from reasoning_distill.generation.summary import GenerationSummary, summarize_store
from reasoning_distill.progress import Progress, Task, ensure
from reasoning_distill.records import Problem

logger = logging.getLogger(__name__)


@dataclass
class OpenJob:
    """A job's store, opened through its spec, and the requests for the samples it lacks."""

    store: Store
    problems: dict[str, Problem]  # by id
    requests: list[GenerationRequest]
    n: int
    todo: int  # samples the requests ask for
    expected: int  # samples the job holds when complete
    started: float  # time.perf_counter() when the job started

    def summary(self, out_dir: str | Path, written: int, tokens: int) -> GenerationSummary:
        """The summary of this run (the store still open): its counters and the folder's stats."""
        elapsed = time.perf_counter() - self.started
        stats = summarize_store(self.store, self.problems, self.n)
        return GenerationSummary.of_run(
            out_dir, self.expected, self.todo, written, tokens, elapsed, stats
        )


@contextmanager
def open_job(spec: JobSpec, problems: Sequence[Problem], out_dir: str | Path) -> Iterator[OpenJob]:
    """Open the store of job `spec` in `out_dir` and plan the samples it still lacks.

    Both the local job and the Ray job start here, so they resume the same way."""
    started = time.perf_counter()
    n = spec.params.n
    with Store.open(out_dir, spec.identity(), format=spec.format) as store:
        requests = plan_requests(problems, n, store.done_keys(), spec.system)
        yield OpenJob(
            store,
            {p.id: p for p in problems},
            requests,
            n,
            count_samples(requests, n),
            len(problems) * n,
            started,
        )


@dataclass
class _Writer:
    """Turns engine results into records and appends them to the store, counting as it goes."""

    store: Store
    problems: dict[str, Problem]
    spec: JobSpec
    think_in_prompt: bool | None
    written: int = 0
    tokens: int = 0

    def write(self, results: Sequence[GenerationResult], elapsed_s: float | None) -> None:
        samples = results_to_samples(
            results, self.problems, self.spec, self.think_in_prompt, elapsed_s
        )
        self.written += self.store.append(samples)
        self.tokens += sum(s.completion_tokens for s in samples)


def _check_results(
    requests: Sequence[GenerationRequest],
    results: Sequence[GenerationResult],
    params: SamplingParams,
) -> None:
    if len(results) != len(requests):
        raise RuntimeError(f"engine returned {len(results)} results for {len(requests)} requests")
    for req, res in zip(requests, results, strict=True):
        if res.request_id != req.request_id:
            raise RuntimeError(
                f"engine returned results out of order: {res.request_id!r} for {req.request_id!r}"
            )
        want = sorted(req.indices(params.n))
        got = sorted(c.index for c in res.completions)
        if got != want:
            raise RuntimeError(
                f"engine returned samples {got} for {req.request_id!r}, asked for {want}"
            )


def _chunks(items: Sequence[GenerationRequest], size: int) -> Iterable[Sequence[GenerationRequest]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _generate_chunked(
    engine: Engine,
    requests: Sequence[GenerationRequest],
    writer: _Writer,
    task: Task,
    chunk_size: int,
) -> None:
    """Send `chunk_size` problems at a time; write each chunk once the engine returns it."""
    params = writer.spec.params
    for chunk in _chunks(requests, chunk_size):
        t_chunk = time.perf_counter()
        written, tokens = writer.written, writer.tokens
        try:
            results = engine.generate(chunk, params)
        except PartialResultsError as e:
            if e.results:
                writer.write(e.results, None)
                logger.warning(
                    "engine failed; kept %d finished samples of the chunk", writer.written - written
                )
            raise
        _check_results(chunk, results, params)
        writer.write(results, time.perf_counter() - t_chunk)
        task.advance(writer.written - written, tokens=writer.tokens - tokens)


def _generate_streaming(
    engine: StreamingEngine,
    requests: Sequence[GenerationRequest],
    writer: _Writer,
    task: Task,
    flush_s: float,
) -> None:
    """Take samples as the engine finishes them; write (and fsync) every `flush_s` seconds.

    Whatever finished is written even when the engine fails or the job is interrupted, so a
    kill loses at most the last `flush_s` seconds of samples and the samples in flight.
    """
    params = writer.spec.params
    wanted = {(r.request_id, k) for r in requests for k in r.indices(params.n)}
    pending: list[GenerationResult] = []
    last = time.perf_counter()

    def flush() -> None:
        nonlocal last, pending
        now = time.perf_counter()
        if pending:
            # Each sample's elapsed_s is its token share of the wall time since the last write.
            writer.write(pending, now - last)
        pending = []
        last = now

    stream = engine.stream(requests, params)
    try:
        for part in stream:
            for res in part:
                for c in res.completions:
                    key = (res.request_id, c.index)
                    if key not in wanted:
                        raise RuntimeError(
                            f"engine returned sample {c.index} of {res.request_id!r}, which was "
                            "not asked for or came twice"
                        )
                    wanted.discard(key)
                pending.append(res)
            task.advance(
                sum(len(r.completions) for r in part),
                tokens=sum(c.completion_tokens for r in part for c in r.completions),
            )
            if time.perf_counter() - last >= flush_s:
                flush()
    finally:
        # Stop the engine's work now (a generator left to the garbage collector keeps it going).
        stream.close()
        flush()
    if wanted:
        missing = ", ".join(f"{pid}#{k}" for pid, k in sorted(wanted)[:10])
        raise RuntimeError(f"engine finished with {len(wanted)} samples missing: {missing}")


def run_job(
    spec: JobSpec,
    problems: Sequence[Problem],
    engine: Engine,
    out_dir: str | Path,
    progress: Progress | None = None,
    *,
    chunk_size: int = 64,
    think_in_prompt: bool | None = None,
    flush_s: float = 2.0,
) -> GenerationSummary:
    """Run the job `spec` (already checked by `spec.preflight(out_dir)`) on `engine`."""
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    with open_job(spec, problems, out_dir) as job:
        logger.info(
            "%s: %d samples expected, %d already stored, %d to generate",
            out_dir,
            job.expected,
            job.expected - job.todo,
            job.todo,
        )
        writer = _Writer(job.store, job.problems, spec, think_in_prompt)
        with ensure(progress).task("generating", total=job.todo) as task:
            if streams(engine):
                _generate_streaming(engine, job.requests, writer, task, flush_s)
            else:
                _generate_chunked(engine, job.requests, writer, task, chunk_size)
        return job.summary(out_dir, writer.written, writer.tokens)


def run_generation(
    problems: Sequence[Problem],
    engine: Engine,
    params: SamplingParams,
    out_dir: str | Path,
    progress: Progress | None = None,
    chunk_size: int = 64,
    *,
    system: str | None = None,
    think_in_prompt: bool | None = None,
    store_format: str = "jsonl",
    input_hash: str | None = None,
    flush_s: float = 2.0,
) -> GenerationSummary:
    """Sample `params.n` completions per problem into `out_dir`, skipping those already there.

    Engines that stream (`StreamingEngine`: vLLM, HTTP) get every request at once and hand
    back samples as they finish; those are written (and fsynced) every `flush_s` seconds, so
    no batch waits for its longest sample. Other engines get `chunk_size` problems at a time,
    and each chunk is written before the next starts; if the engine fails part-way through a
    chunk with `PartialResultsError`, its results are written before the error propagates.
    A folder made with other settings is refused (`ManifestMismatchError`).
    """
    spec = JobSpec.for_problems(
        problems,
        engine.name,
        str(engine.model),
        params,
        system=system,
        format=store_format,
        input_hash=input_hash,
    )
    spec.preflight(out_dir)
    return run_job(
        spec,
        problems,
        engine,
        out_dir,
        progress,
        chunk_size=chunk_size,
        think_in_prompt=think_in_prompt,
        flush_s=flush_s,
    )
