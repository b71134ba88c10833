"""The engine seam: requests in, results out. Every backend returns the same records."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

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
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0 <= self.min_p < 1:
            raise ValueError(f"min_p must be in [0, 1), got {self.min_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


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
        """Results in the order of `requests`, with one completion per requested sample."""
        ...

    def close(self) -> None: ...


def without_indices(
    parts: Iterator[list[tuple[int, GenerationResult]]],
) -> Iterator[list[GenerationResult]]:
    """A stream of `(request index, result)` parts as a stream of results (`Engine.stream`)."""
    try:
        for part in parts:
            yield [res for _, res in part]
    finally:
        parts.close()  # a caller that stops early stops the engine's work now


def gather(
    requests: Sequence[GenerationRequest],
    params: SamplingParams,
    parts: Iterator[list[tuple[int, GenerationResult]]],
    progress: Progress | None = None,
) -> list[GenerationResult]:
    """Collect a stream of `(request index, one-completion result)` parts into `generate`'s
    answer: one result per request, in request order, completions sorted by index.

    If the stream fails with an error that carries `partial_results` (the HTTP engine's
    `PartialGenerationError`), those are set to the results that have samples, so the caller
    can keep what finished.
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
    except Exception as e:
        if hasattr(e, "partial_results"):
            e.partial_results = [r for r in results if r.completions]
        raise
    finally:
        parts.close()
    elapsed = time.perf_counter() - t0
    for res in results:
        res.completions.sort(key=lambda c: c.index)
        res.elapsed_s = elapsed
    return results
