"""The Ray generation job on a real two-node cluster (two raylets on this machine, one CPU each),
with the transformers engine inside the actors: placement, the exact sample set, resume."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reasoning_distill.generation.engine import SamplingParams
from reasoning_distill.generation.store import Store, load_samples
from reasoning_distill.records import Problem

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def two_node_cluster():
    pytest.importorskip("ray")
    from tests.ray_cluster import two_node_cluster

    with two_node_cluster() as (ray, _cluster, _worker):
        yield ray


def generation_actor_nodes(ray) -> set[str]:
    """Node ids of every GenerationActor Ray Data started (alive or already finished).

    The public state API (`ray.util.state`) needs the dashboard, which this cluster leaves
    out to start faster; the GCS actor table holds the same placement.
    """
    from ray._private import state

    return {
        a["Address"]["NodeID"]
        for a in state.actors().values()
        if "GenerationActor" in a["ActorClassName"]
    }


def writer_nodes(out) -> dict[str, str]:
    """Writer id -> node id prefix, from the shard names (`samples-ray.<node>.<pid>.<rand>-<seq>`)."""
    writers = {p.name.split("-")[1] for p in Store(out).shards()}
    return {w: w.split(".")[1] for w in writers}


def test_two_nodes_write_one_store_and_resume(two_node_cluster, tiny_model_dir, tmp_path):
    from reasoning_distill.generation.ray_job import run_generation_ray

    ray = two_node_cluster
    node_ids = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(node_ids) == 2
    ps = [Problem(id=f"c{i}", prompt=f"What is {i} + 6?", gold=str(i + 6)) for i in range(8)]
    params = SamplingParams(n=2, max_tokens=8, seed=4)

    def run():
        return run_generation_ray(
            ps,
            "hf",
            str(tiny_model_dir),
            {"batch_size": 8},
            params,
            tmp_path,
            num_actors=2,
            chunk_size=1,
            store_format="parquet",
        )

    summary = run()
    expected = {(p.id, k) for p in ps for k in range(2)}
    assert summary.samples == summary.generated_now == 16
    keys = [s.key for s in load_samples(tmp_path)]
    assert len(keys) == len(set(keys)) and set(keys) == expected
    # Two actors of one CPU each on two one-CPU nodes: one actor per node, by construction.
    assert generation_actor_nodes(ray) == node_ids
    # Every shard names the node that wrote it (which actors got batches is Ray's call).
    first = writer_nodes(tmp_path)
    assert first and all(any(n.startswith(prefix) for n in node_ids) for prefix in first.values())

    # A job killed part-way: the last chunk of each writer was never committed, and one
    # chunk's Parquet write was cut short (its temporary file never renamed into place).
    lost = 0
    for writer in first:
        last = max(tmp_path.glob(f"samples-{writer}-*.parquet"))
        lost += _rows(last)
        last.unlink()
    (tmp_path / f".samples-{next(iter(first))}-00099.parquet.tmp").write_bytes(b"PAR1")
    kept = {p.name: p.read_bytes() for p in Store(tmp_path).shards()}

    # The resume runs as a user would on a cluster: `rdistill generate --ray-address`, a new
    # driver process joining the running cluster.
    inp = tmp_path.parent / "problems.jsonl"
    inp.write_text("".join(json.dumps({"id": p.id, "problem": p.prompt}) + "\n" for p in ps))
    cmd = [sys.executable, "-m", "reasoning_distill.cli.main", "generate", "--engine", "hf"]
    cmd += ["--model", str(tiny_model_dir), "--input", str(inp), "--out", str(tmp_path)]
    cmd += ["--n", "2", "--max-tokens", "8", "--seed", "4", "--batch-size", "8", "--gold-field", ""]
    # The library run above asked the bare questions: so does the resume.
    cmd += ["--format", "parquet", "--chunk-size", "1", "--ray", "2", "--prompt-template", "plain"]
    cmd += ["--ray-address", ray.get_runtime_context().gcs_address]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{lost} ({16 - lost} were already done)" in proc.stdout, proc.stdout[-2000:]
    keys = [s.key for s in load_samples(tmp_path)]
    assert len(keys) == len(set(keys)) and set(keys) == expected
    assert not list(tmp_path.glob(".samples-*.tmp*"))
    # Committed shards are left as they were; the resumed actors wrote new ones.
    for name, data in kept.items():
        assert (tmp_path / name).read_bytes() == data
    assert set(writer_nodes(tmp_path)) - set(first)


def _rows(path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows
