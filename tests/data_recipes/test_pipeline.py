"""`rdistill build RECIPE`: every stage on real files and a real tiny model, resumable."""

from __future__ import annotations

import json

import pytest

from reasoning_distill.cli.main import main
from tests.benchmark_files import SHARED_BENCHMARKS as SHARED
from tests.data_recipes._build_inputs import write_recipe, write_sources


@pytest.fixture
def built(tmp_path, tiny_teacher, capsys):
    counts = write_sources(tmp_path)
    recipe = write_recipe(tmp_path, tiny_teacher)
    assert main(["build", str(recipe), "--root", str(tmp_path)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return tmp_path, recipe, counts


@pytest.mark.slow
def test_a_recipe_builds_a_dataset_through_every_stage(built):
    from datasets import load_from_disk

    root, _, counts = built
    out, work = root / "out" / "ds", root / "out" / "ds.work"
    ds = load_from_disk(str(out))
    problems = counts["math"] - 1 - counts["planted"] + counts["code"]  # dup and plant gone
    assert len(ds) == problems * 2  # keep: all, n = 2
    row = ds[0]
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert row["messages"][0]["content"] == "Be brief."
    assert (
        "Please reason step by step"
        in ds.filter(lambda r: r["kind"] == "math")[0]["messages"][1]["content"]
    )
    for col in (
        "source",
        "problem_id",
        "sample_index",
        "verdict",
        "completion_tokens",
        "teacher",
        "sampling",
    ):
        assert col in ds.column_names
    assert {r["source"] for r in ds} == {"math", "code"}
    assert "math-dup" not in set(ds["problem_id"]) and "math-planted" not in set(ds["problem_id"])
    info = json.loads((work / "problems.json").read_text())
    assert info["duplicates"]["by_kind"] == {"exact": 1}
    card = (out / "README.md").read_text()
    assert card.startswith("---\nsize_categories: [n<1K]")
    assert "configs:" in card and "path: data/train-*.parquet" in card
    assert (out / "data" / "train-00000-of-00001.parquet").exists()
    assert (out / "trace_lengths.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Rejection reasons" in card or "## Pass rate per source" in card
    if SHARED.is_dir():
        assert info["contamination"]["gsm8k"]["count"] == 1
        assert "**gsm8k**: 1 problems removed" in card
    verdicts = [
        json.loads(line)
        for line in (work / "generations" / "verdicts.jsonl").read_text().splitlines()
    ]
    assert len(verdicts) == len(ds)
    assert {v["kind"] for v in verdicts} == {"math", "code"}
    assert {v["verifier"] for v in verdicts} == {"math+format", "code+format"}


@pytest.mark.slow
def test_a_rerun_does_nothing_and_a_changed_recipe_is_refused_unless_rebuild(built, capsys):
    from datasets import load_from_disk

    root, recipe, _ = built
    out = root / "out" / "ds"
    before = (out / "data-00000-of-00001.arrow").read_bytes()
    rows = len(load_from_disk(str(out)))
    assert main(["build", str(recipe), "--root", str(root)]) == 0
    assert (out / "data-00000-of-00001.arrow").read_bytes() == before
    write_recipe(root, _model(root), **{"select:\n  keep: all": "select:\n  keep: all\n  k: 1"})
    assert main(["build", str(recipe), "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "recipe changed since stage 'write'" in err and "--rebuild" in err
    assert main(["build", str(recipe), "--root", str(root), "--rebuild"]) == 0
    assert len(load_from_disk(str(out))) * 2 == rows  # k: 1 of n: 2
    assert set(load_from_disk(str(out))["sample_index"]) == {0}


def _model(root):
    return next(
        line.split("model: ", 1)[1]
        for line in (root / "recipe.yaml").read_text().splitlines()
        if "model: " in line
    )


def test_dry_run_prints_the_plan_and_loads_no_model(tmp_path, capsys):
    write_sources(tmp_path)
    recipe = write_recipe(tmp_path, tmp_path / "no-such-model")
    assert main(["build", str(recipe), "--root", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"generation budget"' in out and '"samples": ' in out and "test_build" in out
    assert not (tmp_path / "out").exists()


def test_out_naming_a_folder_of_other_files_is_refused_before_any_work(
    tmp_path, tiny_teacher, capsys
):
    write_sources(tmp_path)
    recipe = write_recipe(tmp_path, tiny_teacher)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep")
    assert (
        main(["build", str(recipe), "--root", str(tmp_path), "--out", str(tmp_path / "mine")]) == 2
    )
    assert "not written by this command" in capsys.readouterr().err
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep"
    assert not (tmp_path / "mine.work").exists()


@pytest.mark.slow
def test_a_verify_change_rebuilds_from_verify_and_keeps_the_generations(built):
    from reasoning_distill.data_recipes.pipeline import run_recipe
    from reasoning_distill.data_recipes.recipe import load_recipe

    root, recipe_path, _ = built
    shards = sorted((root / "out" / "ds.work" / "generations").glob("samples-*"))
    before = {p: p.read_bytes() for p in shards}
    write_recipe(root, _model(root), **{"code: {timeout_s: 3}": "code: {timeout_s: 2}"})
    run = run_recipe(load_recipe(recipe_path), root=root, rebuild=True)
    assert run.stats["generate"]["generated_now"] == 0  # the teacher was not asked again
    assert run.stats["verify"]["verified_now"] == run.stats["write"]["samples"]
    assert {p: p.read_bytes() for p in shards} == before


def test_a_second_build_on_the_same_folder_is_refused_at_once(tmp_path, tiny_teacher, capsys):
    from reasoning_distill.data_recipes.pipeline import _lock_work

    write_sources(tmp_path)
    recipe = write_recipe(tmp_path, tiny_teacher)
    work = tmp_path / "out" / "ds.work"
    work.mkdir(parents=True)
    held = _lock_work(work)  # what a running build holds
    try:
        assert main(["build", str(recipe), "--root", str(tmp_path)]) == 2
        assert "another rdistill build is running" in capsys.readouterr().err
    finally:
        held.close()
