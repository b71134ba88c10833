"""The engine seam: requests in, results out. Every backend returns the same records."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Self, runtime_checkable

from reasoning_distill.errors import ConfigError
from reasoning_distill.progress import Progress, ensure


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings shared by every engine.

    Defaults are the DeepSeek-R1 settings for reasoning teachers (temperature 0.6, top-p 0.95).
    `top_k <= 0` and `min_p == 0` disable those filters. `seed` is the job's base seed: each
    sample's own seed is derived from it (see `sample_seed`).
    """

    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = -1
    min_p: float = 0.0
    max_tokens: int = 2048
    stop: tuple[str, ...] = ()
    seed: int = 0
    logprobs: int | None = None

    def __post_init__(self) -> None:
        # ConfigError names the field as the CLI flag does (`max_tokens` is `--max-tokens`).
        for bad, what in (
            (self.n < 1, f"n must be >= 1, got {self.n}"),
            (self.temperature < 0, f"temperature must be >= 0, got {self.temperature}"),
            (not 0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}"),
            (not 0 <= self.min_p < 1, f"min_p must be in [0, 1), got {self.min_p}"),
            (self.max_tokens < 1, f"max_tokens must be >= 1, got {self.max_tokens}"),
            (
                self.logprobs is not None and self.logprobs < 0,
                f"logprobs must be >= 0, got {self.logprobs}",
            ),
            # An empty stop string matches at once: every completion would be empty.
            ("" in self.stop, "stop strings must not be empty"),
        ):
            if bad:
                raise ConfigError(what)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SamplingParams:
        return cls(**{**d, "stop": tuple(d.get("stop", ()))})


# Completion tokens one chunk of a job may ask of an engine that does not stream (samples x
# max_tokens): 16 samples of 2048 tokens, 128 of 256.
CHUNK_TOKENS = 32768


def chunk_samples(params: SamplingParams, batch_size: int | None = None) -> int:
    """Samples per chunk sized to the work: about `CHUNK_TOKENS` completion tokens, at most
    `batch_size` (an engine batch; more would wait for a second batch before writing)."""
    size = max(1, CHUNK_TOKENS // params.max_tokens)
    return min(size, batch_size) if batch_size else size


def sample_seed(base_seed: int, problem_id: str, sample_index: int) -> int:
    """A per-sample seed that does not depend on batching or on what was already done."""
    import hashlib

    h = hashlib.blake2b(f"{base_seed}\0{problem_id}\0{sample_index}".encode(), digest_size=4)
    return int.from_bytes(h.digest(), "little") & 0x7FFFFFFF


@dataclass
class GenerationRequest:
    """One prompt to sample from: chat `messages`, or a raw `prompt` string (no template)."""

    request_id: str
    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    sample_indices: Sequence[int] | None = None  # which of the n samples to produce (resume)

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError(f"request {self.request_id!r}: give exactly one of messages or prompt")

    def indices(self, n: int) -> Sequence[int]:
        """The sample indices to produce: those named for a resume, else all `n`."""
        return self.sample_indices if self.sample_indices is not None else range(n)


@dataclass
class Completion:
    index: int
    text: str
    finish_reason: str  # "stop" (EOS or a stop string) or "length" (hit max_tokens)
    completion_tokens: int
    seed: int | None = None
    logprobs: list[dict[str, float]] | None = None
    reasoning_content: str | None = None  # servers that return the reasoning separately


@dataclass
class GenerationResult:
    request_id: str
    prompt: str  # the prompt text as the model saw it (template applied)
    prompt_tokens: int
    completions: list[Completion] = field(default_factory=list)
    elapsed_s: float = 0.0


class PartialResultsError(RuntimeError):
    """An engine call failed part-way; `results` holds the samples that did finish.

    The job writes `results` before the error propagates, so finished work is never lost.
    """

    def __init__(self, message: str, results: Sequence[GenerationResult] = ()) -> None:
        super().__init__(message)
        self.results = list(results)


class Engine(Protocol):
    """A backend that samples completions. `name` is "hf", "vllm" or "openai"."""

    name: str
    model: str

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        params: SamplingParams,
        progress: Progress | None = None,
    ) -> list[GenerationResult]:
        """Results in the order of `requests`, with one completion per requested sample.

        May raise `PartialResultsError` carrying the results that finished."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class StreamingEngine(Engine, Protocol):
    """An engine that hands samples back as they finish (the vLLM and HTTP engines).

    The job gives it every request at once and writes what comes back every couple of
    seconds, so no batch waits for its longest sample. Engines without `stream` get fixed
    chunks through `generate`.
    """

    def stream(
        self, requests: Iterable[GenerationRequest], params: SamplingParams
    ) -> Generator[list[GenerationResult], None, None]:
        """Lists of one-completion results in finishing order. Closing the generator stops
        the engine's work; a failure after some samples raises `PartialResultsError`."""
        ...


def streams(engine: Engine) -> bool:
    """Whether `engine` streams (implements `StreamingEngine.stream`)."""
    return isinstance(engine, StreamingEngine)


def without_indices(
    parts: Generator[list[tuple[int, GenerationResult]], None, None],
) -> Generator[list[GenerationResult], None, None]:
    """A stream of `(request index, result)` parts as a stream of results (`Engine.stream`)."""
    try:
        for part in parts:
            yield [res for _, res in part]
    finally:
        parts.close()  # a caller that stops early stops the engine's work now


def gather(
    requests: Sequence[GenerationRequest],
    params: SamplingParams,
    parts: Generator[list[tuple[int, GenerationResult]], None, None],
    progress: Progress | None = None,
) -> list[GenerationResult]:
    """Collect a stream of `(request index, one-completion result)` parts into `generate`'s
    answer: one result per request, in request order, completions sorted by index.

    If the stream fails with `PartialResultsError`, its `results` are set to the results that
    have samples, so the caller can keep what finished.
    """
    t0 = time.perf_counter()
    total = sum(len(r.indices(params.n)) for r in requests)
    results = [GenerationResult(r.request_id, r.prompt or "", 0) for r in requests]
    try:
        with ensure(progress).task("sampling", total=total) as task:
            for part in parts:
                for i, res in part:
                    results[i].prompt, results[i].prompt_tokens = res.prompt, res.prompt_tokens
                    results[i].completions += res.completions
                task.advance(
                    len(part),
                    tokens=sum(c.completion_tokens for _, r in part for c in r.completions),
                )
    except PartialResultsError as e:
        e.results = [r for r in results if r.completions]
        raise
    finally:
        parts.close()
    elapsed = time.perf_counter() - t0
    for res in results:
        res.completions.sort(key=lambda c: c.index)
        res.elapsed_s = elapsed
    return results


class EngineBase:
    """What every engine shares: `with engine:` closes it on leaving."""

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class IndexedStreamEngine(EngineBase):
    """An engine built on one sampling loop, `_stream_indexed`, that yields
    `(request index, one-completion result)` parts as samples finish: `stream` hands them
    on in finishing order, `generate` gathers them in request order."""

    # Whether a failure that left some samples finished says how many, in its message.
    counts_finished_on_failure = False

    def _stream_indexed(
        self, requests: Iterable[GenerationRequest], params: SamplingParams
    ) -> Generator[list[tuple[int, GenerationResult]], None, None]:
        raise NotImplementedError

    def stream(
        self, requests: Iterable[GenerationRequest], params: SamplingParams
    ) -> Generator[list[GenerationResult], None, None]:
        """Yield samples as they finish: lists of one-completion results, in finishing order.

        The job writes them as they come, so concurrency never drains at a chunk's end; a
        caller that stops early (closes the generator) stops the engine's work.
        """
        return without_indices(self._stream_indexed(requests, params))

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams, progress=None
    ) -> list[GenerationResult]:
        """`Engine.generate`: results in request order (`progress` a `Progress` or None)."""
        try:
            return gather(requests, params, self._stream_indexed(requests, params), progress)
        except PartialResultsError as e:
            if not self.counts_finished_on_failure:
                raise
            done = sum(len(r.completions) for r in e.results)
            total = sum(len(r.indices(params.n)) for r in requests)
            raise PartialResultsError(
                f"{e} ({done} of {total} finished and are kept)", e.results
            ) from None
