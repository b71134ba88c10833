"""The vLLM offline engine, for real on vllm-cpu with the tiny model (one LLM for the module)."""

from __future__ import annotations

import os

import pytest

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

    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_engine("vllm", str(tmp_path / "absent" / "model"))
