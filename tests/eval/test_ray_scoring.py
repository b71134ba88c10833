"""`rdistill eval --ray` on a real two-node Ray cluster (two raylets on this machine): the
samples are scored in Ray actors through the same verify path, with results equal to local
scoring, and a scoring cut short resumes with every verdict stored once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli._rdistill import rdistill

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray")
    from tests.ray_cluster import two_node_cluster

    with two_node_cluster() as handles:
        yield handles


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from reasoning_distill.toy.models import make_tiny_model

    texts = [f"<think>x</think> The answer is \\boxed{{{i % 7}}}." for i in range(20)]
    return make_tiny_model(tmp_path_factory.mktemp("m") / "tiny", texts)


def _eval(tiny: Path, out: Path, *extra: str):
    args = ["eval", "--model", f"m={tiny}", "--benchmark", "toy_math", "--limit", "8",
            "--n", "2", "--max-tokens", "12", "--seed", "3", "--out", str(out), *extra]  # fmt: skip
    proc = rdistill(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _scored(out: Path) -> dict:
    env = json.loads((out / "m" / "results.json").read_text())
    return {"benchmarks": env["benchmarks"], "verifier": env["manifest"]["verifier"]}


def _verdict_files(out: Path) -> list[Path]:
    return sorted((out / "m" / "generations").glob("*/verdicts-*.jsonl"))


def test_eval_scored_on_ray_equals_local_scoring_and_resumes(cluster, tiny, tmp_path):
    ray, _, _ = cluster
    address = ray.get_runtime_context().gcs_address
    local = tmp_path / "local"
    _eval(tiny, local)
    expected = _scored(local)
    (verdicts,) = _verdict_files(local)
    n = len(verdicts.read_text().splitlines())
    assert n == 16

    # The same samples (cached), scored again from nothing on the Ray actors.
    on_ray = shutil.copytree(local, tmp_path / "ray")
    (mine,) = _verdict_files(on_ray)
    mine.unlink()
    proc = _eval(tiny, on_ray, "--ray", "2", "--address", address)
    assert "0 to generate" in proc.stderr
    assert _scored(on_ray) == expected

    def keys(path: Path) -> list[tuple[str, int]]:
        rows = map(json.loads, path.read_text().splitlines())
        return sorted((r["problem_id"], r["sample_index"]) for r in rows)

    assert keys(mine) == keys(verdicts)

    # Cut short (half the verdicts kept, the last line torn): the rerun on Ray makes only the
    # missing ones, each stored once, and the results stay those of local scoring.
    raw = mine.read_bytes().split(b"\n")[:-1]
    keep = n // 2
    mine.write_bytes(b"".join(x + b"\n" for x in raw[:keep]) + raw[keep][:20])
    _eval(tiny, on_ray, "--ray", "1", "--address", address)
    assert keys(mine) == keys(verdicts)  # each verdict once: none lost, none twice
    assert _scored(on_ray) == expected


def test_eval_address_without_ray_is_refused(tiny, tmp_path):
    proc = rdistill("eval", "--model", f"m={tiny}", "--benchmark", "toy_math", "--limit", "2",
                    "--out", str(tmp_path / "o"), "--address", "127.0.0.1:1")  # fmt: skip
    assert proc.returncode == 2
    assert "--address is the Ray cluster of --ray" in proc.stderr + proc.stdout
