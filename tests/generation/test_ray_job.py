"""The generation job on a local Ray instance, with the transformers engine in two actors."""

from __future__ import annotations

import pytest

from reasoning_distill.generation.engine import SamplingParams
from reasoning_distill.generation.store import Store, load_samples
from reasoning_distill.records import Problem

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_actors_write_one_store_and_resume(ray_local, tiny_model_dir, tmp_path):
    from reasoning_distill.generation.ray_job import run_generation_ray

    ps = [Problem(id=f"r{i}", prompt=f"What is {i} + 4?", gold=str(i + 4)) for i in range(8)]
    params = SamplingParams(n=2, max_tokens=8, seed=2)
    opts = {"batch_size": 8}
    summary = run_generation_ray(
        ps, "hf", str(tiny_model_dir), opts, params, tmp_path, num_actors=2, chunk_size=2
    )
    assert summary.samples == summary.generated_now == 16
    writers = {p.name.split("-")[1] for p in Store(tmp_path).shards()}
    # Each actor writes its own shards (how many actors got batches is Ray's call).
    assert 1 <= len(writers) <= 2 and all(w.startswith("ray") for w in writers)
    # Lose some samples (a job killed part-way), then resume on Ray: only those come back.
    shard = Store(tmp_path).shards()[0]
    lines = shard.read_bytes().split(b"\n")[:-1]
    shard.write_bytes(b"".join(line + b"\n" for line in lines[:1]) + lines[1][:20])
    again = run_generation_ray(
        ps, "hf", str(tiny_model_dir), opts, params, tmp_path, num_actors=2, chunk_size=2
    )
    assert again.generated_now == len(lines) - 1 and again.samples == 16
    new_writers = {p.name.split("-")[1] for p in Store(tmp_path).shards()} - writers
    assert new_writers, "the resumed run's actors wrote new shards; old ones were only repaired"
    keys = [s.key for s in load_samples(tmp_path)]
    assert len(keys) == len(set(keys)) == 16
    for p in Store(tmp_path).shards():
        assert p.read_bytes().endswith(b"\n")
