"""vLLM's CPU build gets an explicit KV-cache size unless the user chose one (no vllm needed)."""

from __future__ import annotations

from reasoning_distill.generation.vllm_engine import CPU_KV_CACHE_MAX, _cpu_kv_cache


def test_default_kv_cache_fits_free_memory(monkeypatch):
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    size = _cpu_kv_cache({"gpu_memory_utilization": 0.9})["kv_cache_memory_bytes"]
    assert 256 << 20 <= size <= CPU_KV_CACHE_MAX


def test_the_users_choice_is_kept(monkeypatch):
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    assert _cpu_kv_cache({"kv_cache_memory_bytes": 123 << 20}) == {}
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")
    assert _cpu_kv_cache({}) == {}
