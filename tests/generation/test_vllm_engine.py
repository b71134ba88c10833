"""The vLLM offline engine, for real on vllm-cpu with the tiny model (one LLM for the module)."""

from __future__ import annotations

import json
import os

import pytest

from reasoning_distill.errors import ConfigError
from reasoning_distill.generation.engine import GenerationRequest, SamplingParams
from reasoning_distill.generation.job import run_generation
from reasoning_distill.generation.store import load_samples
from reasoning_distill.records import Problem

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

CPU_OPTS = dict(dtype="float32", max_model_len=512, enforce_eager=True)
MSGS = [{"role": "user", "content": "What is 2 + 3?"}]


@pytest.fixture(scope="module")
def vllm_engine(tiny_model_dir):
    pytest.importorskip("vllm")
    from reasoning_distill.generation.vllm_engine import VLLMEngine

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    engine = VLLMEngine(tiny_model_dir, **CPU_OPTS)
    yield engine
    engine.close()


def test_job_records_and_prompt_template(vllm_engine, tmp_path):
    ps = [Problem(id=f"v{i}", prompt=f"What is {i} + 2?", gold=str(i + 2)) for i in range(4)]
    params = SamplingParams(n=3, max_tokens=24, seed=11)
    summary = run_generation(ps, vllm_engine, params, tmp_path, chunk_size=3)
    samples = load_samples(tmp_path)
    assert summary.samples == 12 and sorted(s.key for s in samples) == [
        (f"v{i}", k) for i in range(4) for k in range(3)
    ]
    for s in samples:
        assert s.engine == "vllm" and s.prompt.endswith("<|im_start|>assistant\n")
        assert s.prompt_tokens == len(
            vllm_engine.tokenizer(s.prompt, add_special_tokens=False)["input_ids"]
        )
        assert 1 <= s.completion_tokens <= 24 and s.finish_reason in ("stop", "length")
        assert (s.finish_reason == "length") == (s.completion_tokens == 24)
    assert vllm_engine.dtype == "float32"
    assert json.loads((tmp_path / "manifest.json").read_text())["engine"] == {"dtype": "float32"}


def test_the_default_memory_share_starts_and_the_manifest_names_the_dtype_vllm_chose(
    tiny_model_dir, tmp_path, monkeypatch
):
    """As a user starts it on a CPU: no VLLM_CPU_KVCACHE_SPACE, no dtype, the default
    gpu_memory_utilization (vllm-cpu's own 0.9 share refused to start on a 24 GiB machine)."""
    from reasoning_distill.eval.evaluate import effective_engine_options

    from reasoning_distill.generation.vllm_engine import VLLMEngine, llm_dtype

    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    engine = VLLMEngine(tiny_model_dir, max_model_len=256, enforce_eager=True)
    try:
        ps = [Problem(id=f"d{i}", prompt=f"{i}?", gold=None) for i in range(2)]
        run_generation(ps, engine, SamplingParams(n=1, max_tokens=4, seed=1), tmp_path)
        assert engine.dtype == llm_dtype(engine._llm) and engine.dtype != "auto"
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        assert manifest["engine"] == {"dtype": engine.dtype}
        # eval's manifest states the same dtype, not the "auto" it was asked for
        assert effective_engine_options(engine, {})["dtype"] == engine.dtype
    finally:
        engine.close()


def test_a_sample_does_not_depend_on_what_else_is_asked(vllm_engine):
    params = SamplingParams(n=4, max_tokens=16, seed=3, top_k=20, min_p=0.01)
    [full] = vllm_engine.generate([GenerationRequest("q", messages=MSGS)], params)
    # Resume asks for a subset of a prompt's samples: each must come out as in the full run.
    [part] = vllm_engine.generate(
        [GenerationRequest("q", messages=MSGS, sample_indices=[3, 1])], params
    )
    assert [c.index for c in full.completions] == [0, 1, 2, 3]
    by_index = {c.index: c for c in full.completions}
    for c in part.completions:
        assert (c.text, c.seed) == (by_index[c.index].text, by_index[c.index].seed)
    assert len({c.text for c in full.completions}) > 1  # distinct seeds, distinct samples


def test_logprobs_stop_strings_and_raw_prompts(vllm_engine):
    params = SamplingParams(n=2, max_tokens=12, seed=1, logprobs=3)
    [res] = vllm_engine.generate([GenerationRequest("r", prompt="The answer is")], params)
    assert res.prompt == "The answer is"
    for c in res.completions:
        assert len(c.logprobs) == c.completion_tokens
        assert all(1 <= len(d) <= 4 and all(v <= 0 for v in d.values()) for d in c.logprobs)
    # A stop string ends the sample there and is left out of the text: take a sample's text,
    # pick a letter inside it as the stop string, and resample with the same seed.
    free = SamplingParams(n=8, max_tokens=40, seed=4)
    [res] = vllm_engine.generate([GenerationRequest("g", messages=MSGS)], free)
    c = next(c for c in res.completions if any(ch.isalpha() for ch in c.text[1:]))
    cut = next(ch for ch in c.text[1:] if ch.isalpha())
    stop = SamplingParams(n=8, max_tokens=40, seed=4, stop=(cut,))
    [res2] = vllm_engine.generate(
        [GenerationRequest("g", messages=MSGS, sample_indices=[c.index])], stop
    )
    stopped = res2.completions[0]
    assert stopped.finish_reason == "stop" and cut not in stopped.text
    assert c.text.startswith(stopped.text) and len(stopped.text) < len(c.text)


def test_engine_via_factory_checks_the_model_folder(tmp_path):
    from reasoning_distill.generation.factory import make_engine

    with pytest.raises(ConfigError, match="does not exist"):
        make_engine("vllm", str(tmp_path / "absent" / "model"))


def test_a_head_size_the_cpu_build_cannot_run_is_refused_before_the_engine_starts(tmp_path):
    """vllm-cpu's worker dies on the first request for a head size of 16 (the old toy
    students'); the engine says so at once, naming the size."""
    pytest.importorskip("vllm")
    from reasoning_distill.generation.vllm_engine import VLLMEngine
    from tests.generation import tiny_model

    model = tiny_model.build(tmp_path / "m", hidden=32, heads=2)
    with pytest.raises(ConfigError, match="head size 16 is not one vLLM's CPU build runs"):
        VLLMEngine(model, **CPU_OPTS)


def test_stream_gives_what_plain_vllm_generate_gives(vllm_engine):
    import vllm

    from reasoning_distill.generation.engine import sample_seed

    params = SamplingParams(n=3, max_tokens=20, seed=5, top_k=30)
    reqs = [
        GenerationRequest(f"s{i}", messages=[{"role": "user", "content": f"{i}?"}])
        for i in range(3)
    ]
    streamed = {}
    for part in vllm_engine.stream(reqs, params):
        for res in part:
            [c] = res.completions
            streamed[(res.request_id, c.index)] = (c.text, c.seed, c.completion_tokens)
    assert sorted(streamed) == [(f"s{i}", k) for i in range(3) for k in range(3)]
    # The same token ids and per-sample seeds through vLLM's own batch call.
    tok = vllm_engine.tokenizer
    prompts, sps, keys = [], [], []
    for r in reqs:
        text = tok.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True)
        for k in range(3):
            prompts.append({"prompt_token_ids": tok(text, add_special_tokens=False)["input_ids"]})
            seed = sample_seed(5, r.request_id, k)
            sps.append(
                vllm.SamplingParams(
                    n=1,
                    seed=seed,
                    temperature=0.6,
                    top_p=0.95,
                    top_k=30,
                    max_tokens=20,
                    skip_special_tokens=False,
                )
            )
            keys.append((r.request_id, k))
    outs = vllm_engine._llm.generate(prompts, sps, use_tqdm=False)
    for key, sp, out in zip(keys, sps, outs, strict=True):
        c = out.outputs[0]
        assert streamed[key] == (c.text, sp.seed, len(c.token_ids))


def test_stopping_a_stream_early_aborts_the_rest(vllm_engine):
    params = SamplingParams(n=4, max_tokens=24, seed=2)
    reqs = [GenerationRequest(f"e{i}", prompt=f"Count: {i}") for i in range(6)]
    stream = vllm_engine.stream(reqs, params)
    first = next(stream)
    assert first and all(len(r.completions) == 1 for r in first)
    stream.close()  # the caller stops: what is still in the engine is aborted
    assert not vllm_engine._llm.llm_engine.has_unfinished_requests()
    # The engine still works, and a small in-flight window still delivers every sample.
    vllm_engine.max_inflight = 2
    try:
        got = [r for part in vllm_engine.stream(reqs[:2], params) for r in part]
    finally:
        vllm_engine.max_inflight = 4096
    assert sorted((r.request_id, r.completions[0].index) for r in got) == [
        (f"e{i}", k) for i in range(2) for k in range(4)
    ]


class _StopAfter:
    """A progress sink that interrupts the job (like Ctrl-C) once `n` samples were reported."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def task(self, description, total):
        import contextlib

        outer = self

        class _Task:
            def advance(self, n=1, **fields):
                outer.seen += n
                if outer.seen >= outer.n:
                    raise KeyboardInterrupt

        return contextlib.nullcontext(_Task())


def test_interrupted_streaming_job_keeps_finished_samples_and_resumes_exactly(
    vllm_engine, tmp_path
):
    ps = [Problem(id=f"k{i}", prompt=f"What is {i} + 1?", gold=None) for i in range(6)]
    params = SamplingParams(n=4, max_tokens=32, seed=8)
    with pytest.raises(KeyboardInterrupt):
        run_generation(ps, vllm_engine, params, tmp_path, progress=_StopAfter(1))
    assert not vllm_engine._llm.llm_engine.has_unfinished_requests()  # the rest was aborted
    kept = load_samples(tmp_path)
    assert 1 <= len(kept) < 24  # what finished before the interrupt was written, not lost
    first = {s.key: s.completion for s in kept}
    summary = run_generation(ps, vllm_engine, params, tmp_path)
    samples = load_samples(tmp_path)
    assert summary.already_done == len(kept) and summary.generated_now == 24 - len(kept)
    assert sorted(s.key for s in samples) == [(f"k{i}", k) for i in range(6) for k in range(4)]
    assert all({s.key: s.completion for s in samples}[k] == v for k, v in first.items())
    # Each sample's time is its token share of the run's wall time (no sample is charged twice).
    assert summary.elapsed_s >= sum(s.elapsed_s for s in samples if s.key not in first) * 0.99


def test_many_seeded_samples_at_once(vllm_engine):
    # More prompt tokens than one step's budget: vllm-cpu would split a prefill across steps,
    # which kills its engine for seeded requests unless the engine turns chunked prefill off.
    params = SamplingParams(n=4, max_tokens=8, seed=1)
    reqs = [GenerationRequest(f"m{i}", prompt="word " * (30 + i % 7)) for i in range(150)]
    results = vllm_engine.generate(reqs, params)
    assert [r.request_id for r in results] == [f"m{i}" for i in range(150)]
    assert all([c.index for c in r.completions] == [0, 1, 2, 3] for r in results)


def test_data_parallel_replicas_give_the_single_engine_samples(
    vllm_engine, tiny_model_dir, tmp_path
):
    from reasoning_distill.generation.vllm_engine import VLLMEngine

    ps = [Problem(id=f"d{i}", prompt=f"What is {i} - 1?", gold=None) for i in range(5)]
    params = SamplingParams(n=3, max_tokens=20, seed=6)
    run_generation(ps, vllm_engine, params, tmp_path / "one")
    with VLLMEngine(tiny_model_dir, data_parallel_size=2, **CPU_OPTS) as dp:
        assert dp._replicas is not None and len(dp._replicas) == 2 and dp._llm is None
        summary = run_generation(ps, dp, params, tmp_path / "two")
        # A prompt one replica refuses is named, as with a single engine.
        bad = [*ps, Problem(id="too-long", prompt="word " * 600, gold=None)]
        with pytest.raises(ValueError, match="sample 0 of problem 'too-long'"):
            run_generation(bad, dp, SamplingParams(n=1, max_tokens=8), tmp_path / "bad")
    assert summary.samples == 15
    one = {s.key: (s.completion, s.seed) for s in load_samples(tmp_path / "one")}
    two = {s.key: (s.completion, s.seed) for s in load_samples(tmp_path / "two")}
    assert one == two


def test_a_prompt_the_engine_refuses_is_named(vllm_engine, tmp_path):
    ps = [Problem(id="short", prompt="1 + 1?", gold=None)]
    ps.append(Problem(id="too-long", prompt="word " * 600, gold=None))  # max_model_len is 512
    with pytest.raises(ValueError, match=r"sample 0 of problem 'too-long' \(\d+ prompt tokens\)"):
        run_generation(ps, vllm_engine, SamplingParams(n=1, max_tokens=8), tmp_path)
    assert not vllm_engine._llm.llm_engine.has_unfinished_requests()
