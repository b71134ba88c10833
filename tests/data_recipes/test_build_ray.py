"""A recipe build whose verify stage runs on a real two-node Ray cluster (`verify: {ray: ...}`)
writes the same dataset and card, byte for byte apart from timings, as a local build (the card
quotes the recipe as written, so it shows the `ray:` line too; nothing else differs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.data_recipes._build_inputs import write_recipe, write_sources
from tests.data_recipes.test_build_kill_resume import _dataset_bytes

pytestmark = [pytest.mark.ray, pytest.mark.slow]

LOCAL_VERIFY = "verify:\n  format: {enabled: true}\n"


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray")
    from tests.ray_cluster import two_node_cluster

    with two_node_cluster() as handles:
        yield handles


def _build(root: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "reasoning_distill.cli.main", "build", str(root / "recipe.yaml"),
           "--root", str(root), "--workers", "1"]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def test_a_build_verified_on_ray_equals_the_local_build(cluster, tmp_path, tiny_teacher):
    ray, _, _ = cluster
    address = ray.get_runtime_context().gcs_address
    ray_line = f"  ray: {{address: '{address}', actors: 2}}\n"
    ray_verify = f"verify:\n{ray_line}  format: {{enabled: true}}\n"
    roots, said = {}, {}
    for name, verify in (("local", LOCAL_VERIFY), ("ray", ray_verify)):
        root = tmp_path / name
        root.mkdir()
        write_sources(root)
        write_recipe(root, tiny_teacher, **{LOCAL_VERIFY: verify})
        proc = _build(root)
        assert proc.returncode == 0, proc.stderr[-3000:]
        roots[name] = root
        said[name] = proc.stderr
    assert "Ray" not in said["local"] and "on 2 Ray actors" in said["ray"], said["ray"][-3000:]
    gen = roots["ray"] / "out" / "ds.work" / "generations"
    assert '"kind": "code"' in (gen / "verdicts.jsonl").read_text()  # code verified there too
    a = _dataset_bytes(roots["local"] / "out" / "ds")
    b = _dataset_bytes(roots["ray"] / "out" / "ds")
    assert sorted(a) == sorted(b) and "README.md" in a
    assert b["README.md"].count(ray_line.encode()) == 1  # the recipe as the card quotes it
    b["README.md"] = b["README.md"].replace(ray_line.encode(), b"")
    for name in a:
        assert a[name] == b[name], f"{name} differs between the local and the Ray build"
