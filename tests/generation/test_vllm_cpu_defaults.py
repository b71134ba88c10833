"""vLLM's CPU build gets an explicit KV-cache size unless the user chose one (no vllm needed):
one that starts on a machine like a 2-core, 24 GiB one, and holds a full-length sequence."""

from __future__ import annotations

import json

import pytest

from reasoning_distill.errors import ConfigError
from reasoning_distill.generation.vllm_engine import (
    CPU_KV_CACHE_MAX,
    CPU_KV_CACHE_MIN,
    _available_memory,
    _cpu_kv_cache,
    _kv_need,
)

GiB = 1 << 30


@pytest.fixture(autouse=True)
def _no_env_choice(monkeypatch):
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)


def test_default_kv_cache_fits_available_memory():
    size = _cpu_kv_cache({"gpu_memory_utilization": 0.9})["kv_cache_memory_bytes"]
    assert CPU_KV_CACHE_MIN <= size <= CPU_KV_CACHE_MAX
    assert size <= _available_memory() // 2


def test_the_users_choice_is_kept(monkeypatch):
    assert _cpu_kv_cache({"kv_cache_memory_bytes": 123 << 20}) == {}
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")
    assert _cpu_kv_cache({}) == {}


def test_the_cache_holds_one_sequence_of_the_full_context():
    # 6 GiB available (a busy 24 GiB machine whose NUMA node holds half of it): a quarter,
    # 1.5 GiB, cannot hold one 32k-token sequence of 64 KiB per token (2 GiB), and vLLM
    # refuses to start with a cache smaller than one sequence.
    need = (64 << 10, 32768)
    size = _cpu_kv_cache({}, need, available=6 * GiB)["kv_cache_memory_bytes"]
    assert size == 2 * GiB
    assert _cpu_kv_cache({}, (1024, 512), available=6 * GiB)["kv_cache_memory_bytes"] == 1.5 * GiB
    assert _cpu_kv_cache({}, None, available=64 * GiB)["kv_cache_memory_bytes"] == CPU_KV_CACHE_MAX


def test_a_context_that_cannot_fit_is_refused_naming_max_model_len():
    with pytest.raises(ConfigError, match="--max-model-len") as e:
        _cpu_kv_cache({}, (64 << 10, 131072), available=6 * GiB)
    assert "131,072 tokens" in str(e.value)


def test_kv_need_reads_the_models_config(tmp_path):
    config = {
        "model_type": "qwen2",
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "hidden_size": 512,
        "max_position_embeddings": 4096,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    # K and V, 4 layers, 2 KV heads of 64: float32 unless a 16-bit dtype is named.
    assert _kv_need(str(tmp_path), {}) == (2 * 4 * 2 * 64 * 4, 4096)
    assert _kv_need(str(tmp_path), {"dtype": "bfloat16", "max_model_len": 256}) == (2048, 256)
    assert _kv_need(str(tmp_path / "missing"), {}) is None
