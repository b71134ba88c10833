"""A job's chunks are sized to the work and written (and logged) one by one; every manifest
states the dtype the engine sampled in."""

from __future__ import annotations

import logging

from reasoning_distill.generation.engine import (
    CHUNK_TOKENS,
    Completion,
    GenerationResult,
    SamplingParams,
    chunk_samples,
)
from reasoning_distill.generation.job import chunk_problems, run_generation
from reasoning_distill.generation.store import Store, load_samples
from reasoning_distill.records import Problem


class CountingEngine:
    """A non-streaming engine that records, at each call, its size and what is stored."""

    name = "fake"
    model = "fake-model"

    def __init__(self, out, dtype=None):
        self.out, self.calls = out, []
        if dtype:
            self.dtype = dtype

    def generate(self, requests, params):
        stored = len(Store(self.out).done_keys())
        self.calls.append((sum(len(r.indices(params.n)) for r in requests), stored))
        return [
            GenerationResult(
                r.request_id,
                "p",
                1,
                [Completion(k, f"\\boxed{{{k}}}", "stop", 3) for k in r.indices(params.n)],
            )
            for r in requests
        ]

    def close(self):
        pass


def problems(k):
    return [Problem(f"p{i}", f"What is {i} + 1?", str(i + 1)) for i in range(k)]


def test_long_traces_are_written_a_chunk_at_a_time(tmp_path, caplog):
    # The run: 40 problems x 4 samples of 2048 tokens went to the engine as one
    # 64-problem chunk, and nothing was written (or shown) for 43 minutes.
    params = SamplingParams(n=4, max_tokens=2048)
    engine = CountingEngine(tmp_path)
    with caplog.at_level(logging.INFO, logger="reasoning_distill.generation.job"):
        summary = run_generation(problems(40), engine, params, tmp_path)
    per_chunk = CHUNK_TOKENS // 2048
    assert summary.samples == 160 and len(load_samples(tmp_path)) == 160
    assert [size for size, _ in engine.calls] == [per_chunk] * (160 // per_chunk)
    # Each chunk was in the store before the engine was asked for the next.
    assert [stored for _, stored in engine.calls] == list(range(0, 160, per_chunk))
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("chunk ")]
    assert len(logged) == len(engine.calls) and logged[-1].startswith("chunk 10 of 10 written")


def test_a_given_chunk_size_is_problems_and_short_traces_make_bigger_chunks(tmp_path):
    engine = CountingEngine(tmp_path / "a")
    run_generation(
        problems(5), engine, SamplingParams(n=2, max_tokens=8), tmp_path / "a", chunk_size=2
    )
    assert [size for size, _ in engine.calls] == [4, 4, 2]
    assert chunk_samples(SamplingParams(max_tokens=256)) == 128
    assert chunk_samples(SamplingParams(max_tokens=256), batch_size=64) == 64
    assert chunk_samples(SamplingParams(max_tokens=100_000)) == 1
    assert chunk_problems(SamplingParams(n=4, max_tokens=2048)) == CHUNK_TOKENS // 2048 // 4


def test_the_transformers_engine_sizes_chunks_by_its_batch_and_the_tokens(hf_engine):
    # hf_engine: batch_size 16, on the CPU.
    assert hf_engine.chunk_samples(SamplingParams(max_tokens=64)) == 16
    assert hf_engine.chunk_samples(SamplingParams(max_tokens=8192)) == CHUNK_TOKENS // 8192


def test_the_manifest_records_the_dtype_the_engine_sampled_in(hf_engine, tmp_path, caplog):
    params = SamplingParams(n=1, max_tokens=4, seed=1)
    run_generation(problems(2), hf_engine, params, tmp_path / "hf")
    assert hf_engine.dtype == "float32"
    assert Store(tmp_path / "hf").manifest()["engine"] == {"dtype": "float32"}
    # An engine that cannot tell (a served model) is recorded as unknown.
    run_generation(problems(2), CountingEngine(tmp_path / "x"), params, tmp_path / "x")
    assert Store(tmp_path / "x").manifest()["engine"] == {"dtype": None}
    # A resume in another precision is named, not hidden.
    more = CountingEngine(tmp_path / "b", dtype="bfloat16")
    run_generation(problems(2), more, params, tmp_path / "b")
    with caplog.at_level(logging.WARNING):
        run_generation(
            problems(2), CountingEngine(tmp_path / "b", "float32"), params, tmp_path / "b"
        )
    assert "made in bfloat16" in caplog.text and "--dtype bfloat16" in caplog.text
