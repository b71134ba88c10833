"""The transformers engine on a real tiny model: shapes of results, stops, data parallel."""

from __future__ import annotations

import pytest

from reasoning_distill.errors import ConfigError
from reasoning_distill.generation.engine import GenerationRequest, SamplingParams


def _requests(k: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(f"q{i}", messages=[{"role": "user", "content": f"Compute {i}+{i}."}])
        for i in range(k)
    ]


def test_results_in_request_order_with_every_sample(hf_engine):
    reqs = _requests(5)
    reqs[2] = GenerationRequest("q2", messages=reqs[2].messages, sample_indices=[1, 3])
    out = hf_engine.generate(reqs, SamplingParams(n=4, temperature=1.0, max_tokens=12, seed=3))
    assert [r.request_id for r in out] == [r.request_id for r in reqs]
    assert [c.index for c in out[0].completions] == [0, 1, 2, 3]
    assert [c.index for c in out[2].completions] == [1, 3]
    for r in out:
        assert r.prompt.endswith("<|im_start|>assistant\n") and r.prompt_tokens > 0
        for c in r.completions:
            assert c.finish_reason in ("stop", "length")
            assert 0 < c.completion_tokens <= 12
            assert "<|im_end|>" not in c.text
            if c.finish_reason == "length":
                assert c.completion_tokens == 12


def test_greedy_is_deterministic_and_batch_independent(hf_engine):
    p = SamplingParams(n=1, temperature=0.0, max_tokens=10)
    alone = hf_engine.generate(_requests(1), p)[0].completions[0].text
    batched = hf_engine.generate(_requests(6), p)[0].completions[0].text
    assert alone == batched


def test_stop_strings_are_cut_like_servers_do(hf_engine):
    p = SamplingParams(n=1, temperature=0.0, max_tokens=20)
    full = hf_engine.generate(_requests(1), p)[0].completions[0].text
    if len(full) < 3:
        pytest.skip("the untrained model stopped at once; nothing to cut")
    stop = full[1:3]
    cut = hf_engine.generate(
        _requests(1), SamplingParams(n=1, temperature=0.0, max_tokens=20, stop=(stop,))
    )[0].completions[0]
    assert cut.finish_reason == "stop"
    assert stop not in cut.text and full.startswith(cut.text)


def test_data_parallel_workers_return_the_same_greedy_text(tiny_model_dir, hf_engine):
    from reasoning_distill.generation.hf_engine import HFEngine

    p = SamplingParams(n=2, temperature=0.0, max_tokens=8)
    single = hf_engine.generate(_requests(4), p)
    with HFEngine(tiny_model_dir, batch_size=2, data_parallel=2) as engine:
        parallel = engine.generate(_requests(4), p)
    assert [[c.text for c in r.completions] for r in single] == [
        [c.text for c in r.completions] for r in parallel
    ]


def test_missing_model_folder_is_a_clear_error(tmp_path):
    from reasoning_distill.generation.hf_engine import HFEngine

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="config.json"):
        HFEngine(tmp_path / "empty")
