"""`rdistill build RECIPE` refuses a generation shard copied into its work folder from another
build (another teacher seed), naming the shard and row, and leaves output and work as they were."""

from __future__ import annotations

import shutil

import pytest

from reasoning_distill.cli.main import main
from tests.data_recipes._build_inputs import write_recipe, write_sources


def _tree(folder):
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.mark.slow
def test_a_shard_from_another_build_is_refused(tmp_path, tiny_teacher, capsys):
    roots = {}
    for seed in (3, 4):
        root = roots[seed] = tmp_path / f"seed{seed}"
        root.mkdir()
        write_sources(root)
        recipe = write_recipe(root, tiny_teacher, **{"seed: 3": f"seed: {seed}"})
        assert main(["build", str(recipe), "--root", str(root)]) == 0, capsys.readouterr().err
    gen = roots[3] / "out" / "ds.work" / "generations"
    planted = gen / "samples-1-00000.jsonl"
    shutil.copy(roots[4] / "out" / "ds.work" / "generations" / "samples-0-00000.jsonl", planted)
    capsys.readouterr()
    before = _tree(roots[3])
    assert main(["build", str(roots[3] / "recipe.yaml"), "--root", str(roots[3])]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if "error:" in x]
    assert f"{planted}:1: the sample was made by another generation run" in line
    assert "sampling.seed 4, not 3" in line
    assert _tree(roots[3]) == before
