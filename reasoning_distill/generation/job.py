"""The generation job: problems in, a resumable folder of samples out.

problems -> requests for the samples not yet stored -> engine -> `Sample` records (reasoning
split from the answer) -> store, one chunk at a time: a kill loses at most the chunk in flight,
and a restart with the same settings produces exactly the missing samples.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reasoning_distill.generation.engine import (
    Engine,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    sample_seed,
)
from reasoning_distill.generation.parsing import THINK_CLOSE, THINK_OPEN, split_reasoning
from reasoning_distill.generation.store import Store
from reasoning_distill.progress import Progress, Task, ensure
from reasoning_distill.records import Problem, Sample

logger = logging.getLogger(__name__)


@dataclass
class GenerationSummary:
    """What a job did and what the folder now holds.

    `samples` .. `p95_completion_tokens` describe every sample of the requested problems in the
    folder (including those from earlier runs); `generated_now`, `elapsed_s` and
    `tokens_per_s` describe this run only.
    """

    out_dir: str
    expected: int
    samples: int
    generated_now: int
    already_done: int
    truncated: int
    truncated_share: float
    mean_completion_tokens: float
    p95_completion_tokens: float
    completion_tokens_now: int
    elapsed_s: float
    tokens_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of_run(
        cls,
        out_dir: str | Path,
        expected: int,
        todo: int,
        written: int,
        tokens: int,
        elapsed: float,
        stats: dict[str, Any],
    ) -> GenerationSummary:
        """The summary of one run, from its counters and `summarize_store`'s folder stats."""
        return cls(
            out_dir=str(out_dir),
            expected=expected,
            samples=stats["samples"],
            generated_now=written,
            already_done=expected - todo,
            truncated=stats["truncated"],
            truncated_share=stats["truncated_share"],
            mean_completion_tokens=stats["mean_completion_tokens"],
            p95_completion_tokens=stats["p95_completion_tokens"],
            completion_tokens_now=tokens,
            elapsed_s=elapsed,
            tokens_per_s=tokens / elapsed if elapsed > 0 else 0.0,
        )


def problems_hash(problems: Sequence[Problem]) -> str:
    """A stable hash of the problems' ids and prompts (the part that shapes the samples)."""
    h = hashlib.sha256()
    for p in problems:
        h.update(json.dumps([p.id, p.prompt], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def job_identity(
    problems_digest: str, engine: Engine, params: SamplingParams, system: str | None
) -> dict[str, Any]:
    """What must match for a resume: samples made otherwise would not belong together."""
    return {
        "engine": engine.name,
        "model": str(engine.model),
        "sampling": params.to_dict(),
        "input_hash": problems_digest,
        "system": system,
    }


def check_unique_ids(problems: Sequence[Problem]) -> None:
    seen: set[str] = set()
    dups: list[str] = []
    for p in problems:
        if p.id in seen:
            dups.append(p.id)
        seen.add(p.id)
    if dups:
        shown = ", ".join(repr(d) for d in dups[:10])
        raise ValueError(
            f"problem ids must be unique (they name the samples on disk); duplicated: {shown}"
            + (f" and {len(dups) - 10} more" if len(dups) > 10 else "")
        )


def plan_requests(
    problems: Sequence[Problem],
    params: SamplingParams,
    done: set[tuple[str, int]],
    system: str | None = None,
) -> list[GenerationRequest]:
    """One request per problem that still lacks samples, naming only the missing indices."""
    requests = []
    for p in problems:
        missing = [i for i in range(params.n) if (p.id, i) not in done]
        if missing:
            requests.append(
                GenerationRequest(
                    request_id=p.id, messages=p.messages(system), sample_indices=missing
                )
            )
    return requests


def _prompt_opens_think(prompt: str) -> bool:
    # DeepSeek-R1-Distill's template ends the prompt with "<think>\n": the completion then
    # starts inside the reasoning block.
    tail = prompt.rstrip()
    return tail.endswith(THINK_OPEN) and THINK_CLOSE not in tail[-len(THINK_OPEN) - 16 :]


def results_to_samples(
    results: Sequence[GenerationResult],
    problems: dict[str, Problem],
    engine: Engine,
    params: SamplingParams,
    system: str | None = None,
    think_in_prompt: bool | None = None,
    elapsed_s: float | None = None,
) -> list[Sample]:
    """Turn engine results into store records, parsing reasoning and answer.

    Each sample's `elapsed_s` is its share, by completion tokens, of `elapsed_s` (the wall
    time of the engine call that made all `results`; default: the results' own `elapsed_s`).
    Engines batch and overlap requests, so a share of throughput time is the honest figure.

    `think_in_prompt=None` detects a prompt that already opened `<think>`. Servers that return
    the reasoning separately (`reasoning_content`) get it as `reasoning`, and `completion` is
    rebuilt as `<think>\\n{reasoning}\\n</think>\\n\\n{content}` so that re-parsing it agrees.
    """
    sampling = params.to_dict()
    now = time.time()
    out: list[Sample] = []
    if elapsed_s is None:
        elapsed_s = max((r.elapsed_s for r in results), default=0.0)
    total_tokens = sum(c.completion_tokens for r in results for c in r.completions) or 1
    for r in results:
        problem = problems[r.request_id]
        opens = _prompt_opens_think(r.prompt) if think_in_prompt is None else think_in_prompt
        for c in r.completions:
            meta: dict[str, Any] = {"generated_at": now}
            # The input's other columns (level, subject, source...) travel with every sample,
            # so a dataset built from the samples can still be filtered or stratified by them.
            if problem.source:
                meta["source"] = problem.source
            if problem.meta:
                meta["problem"] = problem.meta
            if c.reasoning_content is not None:
                reasoning: str | None = c.reasoning_content.strip()
                answer = c.text.strip()
                # With a reasoning parser the server moves everything to reasoning_content
                # until it sees </think>: no content and a length stop mean it never closed.
                think_closed = bool(answer) or c.finish_reason == "stop"
                completion = f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{c.text}"
                meta["reasoning_content"] = True
            else:
                parsed = split_reasoning(c.text, think_in_prompt=opens)
                reasoning, answer, think_closed = (
                    parsed.reasoning,
                    parsed.answer,
                    parsed.think_closed,
                )
                completion = c.text
            out.append(
                Sample(
                    problem_id=problem.id,
                    sample_index=c.index,
                    seed=c.seed
                    if c.seed is not None
                    else sample_seed(params.seed, problem.id, c.index),
                    prompt=r.prompt,
                    messages=problem.messages(system),
                    completion=completion,
                    reasoning=reasoning,
                    answer=answer,
                    finish_reason=c.finish_reason,
                    prompt_tokens=r.prompt_tokens,
                    completion_tokens=c.completion_tokens,
                    engine=engine.name,
                    model=str(engine.model),
                    sampling=sampling,
                    think_closed=think_closed,
                    gold=problem.gold,
                    kind=problem.kind,
                    elapsed_s=elapsed_s * c.completion_tokens / total_tokens,
                    meta=meta,
                    logprobs=c.logprobs,
                )
            )
    return out


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


def summarize_lengths(lengths: list[int], truncated: int) -> dict[str, float]:
    """Truncated share, mean and p95 (nearest rank) of completion lengths."""
    n = len(lengths)
    if n == 0:
        return {"truncated_share": 0.0, "mean_completion_tokens": 0.0, "p95_completion_tokens": 0.0}
    srt = sorted(lengths)
    p95 = srt[max(0, math.ceil(0.95 * n) - 1)]
    return {
        "truncated_share": truncated / n,
        "mean_completion_tokens": sum(lengths) / n,
        "p95_completion_tokens": float(p95),
    }


def _chunks(items: Sequence[GenerationRequest], size: int) -> Iterable[Sequence[GenerationRequest]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class _Writer:
    """Turns engine results into records and appends them to the store, counting as it goes."""

    store: Store
    problems: dict[str, Problem]
    engine: Engine
    params: SamplingParams
    system: str | None
    think_in_prompt: bool | None
    written: int = 0
    tokens: int = 0

    def write(self, results: Sequence[GenerationResult], elapsed_s: float | None) -> None:
        samples = results_to_samples(
            results,
            self.problems,
            self.engine,
            self.params,
            self.system,
            self.think_in_prompt,
            elapsed_s,
        )
        self.written += self.store.append(samples)
        self.tokens += sum(s.completion_tokens for s in samples)


def _generate_chunked(
    requests: Sequence[GenerationRequest], writer: _Writer, task: Task, chunk_size: int
) -> None:
    """Send `chunk_size` problems at a time; write each chunk once the engine returns it."""
    engine, params = writer.engine, writer.params
    for chunk in _chunks(requests, chunk_size):
        t_chunk = time.perf_counter()
        written, tokens = writer.written, writer.tokens
        try:
            results = engine.generate(chunk, params)
        except Exception as e:
            partial = getattr(e, "partial_results", None)
            if partial:
                writer.write(partial, None)
                logger.warning(
                    "engine failed; kept %d finished samples of the chunk", writer.written - written
                )
            raise
        _check_results(chunk, results, params)
        writer.write(results, time.perf_counter() - t_chunk)
        task.advance(writer.written - written, tokens=writer.tokens - tokens)


def _generate_streaming(
    requests: Sequence[GenerationRequest], writer: _Writer, task: Task, flush_s: float
) -> None:
    """Take samples as the engine finishes them; write (and fsync) every `flush_s` seconds.

    Whatever finished is written even when the engine fails or the job is interrupted, so a
    kill loses at most the last `flush_s` seconds of samples and the samples in flight.
    """
    params = writer.params
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

    stream = writer.engine.stream(requests, params)  # type: ignore[attr-defined]
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
        close = getattr(stream, "close", None)
        if callable(close):
            close()
        flush()
    if wanted:
        missing = ", ".join(f"{pid}#{k}" for pid, k in sorted(wanted)[:10])
        raise RuntimeError(f"engine finished with {len(wanted)} samples missing: {missing}")


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

    Engines that stream (`engine.stream`, the vLLM engine) get every request at once and hand
    back samples as they finish; those are written (and fsynced) every `flush_s` seconds, so
    no batch waits for its longest sample. Other engines get `chunk_size` problems at a time,
    and each chunk is written before the next starts; if the engine fails part-way through a
    chunk and its error carries `partial_results`, those are written before the error
    propagates. A folder made with other settings is refused (`ManifestMismatchError`).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    check_unique_ids(problems)
    tokenizer = getattr(engine, "tokenizer", None)
    if tokenizer is not None:
        from reasoning_distill.generation.factory import check_generation_prompt

        # Before the folder is touched: such a template would make every sample wrong.
        check_generation_prompt(tokenizer, str(engine.model))
    by_id = {p.id: p for p in problems}
    digest = input_hash or problems_hash(problems)
    identity = job_identity(digest, engine, params, system)
    t0 = time.perf_counter()
    with Store.open(out_dir, identity, format=store_format) as store:
        done = store.done_keys()
        requests = plan_requests(problems, params, done, system)
        todo = sum(len(r.sample_indices or ()) for r in requests)
        expected = len(problems) * params.n
        logger.info(
            "%s: %d samples expected, %d already stored, %d to generate",
            out_dir,
            expected,
            expected - todo,
            todo,
        )
        writer = _Writer(store, by_id, engine, params, system, think_in_prompt)
        with ensure(progress).task("generating", total=todo) as task:
            if callable(getattr(engine, "stream", None)):
                _generate_streaming(requests, writer, task, flush_s)
            else:
                _generate_chunked(requests, writer, task, chunk_size)
        elapsed = time.perf_counter() - t0
        summary = summarize_store(store, by_id, params.n)
    return GenerationSummary.of_run(
        out_dir, expected, todo, writer.written, writer.tokens, elapsed, summary
    )


def summarize_store(
    store: Store, problems: dict[str, Problem] | None = None, n: int | None = None
) -> dict[str, Any]:
    """Counts and length statistics over the stored samples (of `problems`, if given)."""
    lengths: list[int] = []
    truncated = 0
    for s in store.read():
        if problems is not None and (
            s.problem_id not in problems or (n is not None and s.sample_index >= n)
        ):
            continue
        lengths.append(s.completion_tokens)
        truncated += s.finish_reason == "length"
    return {
        "samples": len(lengths),
        "truncated": truncated,
        **summarize_lengths(lengths, truncated),
    }
