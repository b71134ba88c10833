"""The generation job: problems in, a resumable folder of samples out.

spec (`spec.py`) -> store opened through it -> requests for the samples not yet stored
(`plan.py`) -> engine -> `Sample` records (`samples.py`) -> store -> summary (`summary.py`).
Engines that stream get every request at once and their samples are written every couple of
seconds; other engines get chunks, each written (and logged) before the next is asked for.
A chunk is sized to the work unless the caller fixes it: the engine's own size where it has
one (transformers: a batch per replica, fewer on a CPU), else about `CHUNK_TOKENS` tokens of
completions (`engine.chunk_samples`), so a long-trace job on a CPU commits and reports every
few minutes, not once at the end. A kill
loses at most what was in flight, and a restart with the same spec makes exactly the missing
samples.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
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
    chunk_samples,
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


def chunk_problems(params: SamplingParams) -> int:
    """`chunk_samples` in problems of `params.n` samples each (a Ray batch is problems)."""
    return max(1, chunk_samples(params) // params.n)


def _chunk_samples(engine: Engine, params: SamplingParams) -> int:
    """The engine's own chunk size where it has one (`chunk_samples(params)`), else the
    token-bounded default."""
    own = getattr(engine, "chunk_samples", None)
    return int(own(params)) if callable(own) else chunk_samples(params)


def engine_dtype(engine: object) -> str | None:
    """The dtype an engine samples in, as its `dtype` attribute names it (None: unknown)."""
    dtype = getattr(engine, "dtype", None)
    return dtype if isinstance(dtype, str) and dtype else None


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
def open_job(
    spec: JobSpec, problems: Sequence[Problem], out_dir: str | Path, dtype: str | None = None
) -> Iterator[OpenJob]:
    """Open the store of job `spec` in `out_dir` and plan the samples it still lacks.

    Both the local job and the Ray job start here, so they resume the same way. `dtype` is
    what the engine samples in, stated in a new folder's manifest."""
    started = time.perf_counter()
    n = spec.params.n
    record = spec.manifest_record(dtype)
    with Store.open(out_dir, spec.identity(), format=spec.format, record=record) as store:
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


def _chunks(
    items: Sequence[GenerationRequest], n: int, problems: int | None, samples: int
) -> list[Sequence[GenerationRequest]]:
    """`problems` requests per chunk, or (None) requests until a chunk holds `samples`."""
    if problems is not None:
        return [items[i : i + problems] for i in range(0, len(items), problems)]
    out: list[Sequence[GenerationRequest]] = []
    start = count = 0
    for i, req in enumerate(items):
        count += len(req.indices(n))
        if count >= samples:
            out.append(items[start : i + 1])
            start, count = i + 1, 0
    if start < len(items):
        out.append(items[start:])
    return out


def _generate_chunked(
    engine: Engine,
    requests: Sequence[GenerationRequest],
    writer: _Writer,
    task: Task,
    chunk_size: int | None,
) -> None:
    """Send a chunk at a time (`chunk_size` problems, or None: sized to the work); write and
    log each chunk once the engine returns it (the log is the progress without a terminal)."""
    params = writer.spec.params
    samples = _chunk_samples(engine, params)
    chunks = _chunks(requests, params.n, chunk_size, samples)
    todo = sum(len(r.indices(params.n)) for r in requests)
    for number, chunk in enumerate(chunks, 1):
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
        elapsed = time.perf_counter() - t_chunk
        writer.write(results, elapsed)
        task.advance(writer.written - written, tokens=writer.tokens - tokens)
        logger.info(
            "chunk %d of %d written: %d samples (%d of %d this run), %d tokens in %.1f s",
            number,
            len(chunks),
            writer.written - written,
            writer.written,
            todo,
            writer.tokens - tokens,
            elapsed,
        )


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
    chunk_size: int | None = None,
    think_in_prompt: bool | None = None,
    flush_s: float = 2.0,
) -> GenerationSummary:
    """Run the job `spec` (already checked by `spec.preflight(out_dir)`) on `engine`.

    `chunk_size` is problems per chunk of an engine that does not stream; None sizes chunks
    to the work (`chunk_samples`)."""
    if chunk_size is not None and chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    with open_job(spec, problems, out_dir, engine_dtype(engine)) as job:
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
    chunk_size: int | None = None,
    *,
    system: str | None = None,
    think_in_prompt: bool | None = None,
    store_format: str = "jsonl",
    input_hash: str | None = None,
    flush_s: float = 2.0,
    prompt_template: str | None = None,
) -> GenerationSummary:
    """Sample `params.n` completions per problem into `out_dir`, skipping those already there.

    Engines that stream (`StreamingEngine`: vLLM, HTTP) get every request at once and hand
    back samples as they finish; those are written (and fsynced) every `flush_s` seconds, so
    no batch waits for its longest sample. Other engines get `chunk_size` problems at a time
    (None: chunks sized to the work, see `chunk_samples`), and each chunk is written before
    the next starts; if the engine fails part-way through a chunk with `PartialResultsError`,
    its results are written before the error propagates. `prompt_template` (the template
    the prompts were built with) is stated in the manifest.
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
        prompt_template=prompt_template,
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
