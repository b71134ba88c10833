"""The shipped toy recipe end to end: the miniature world's problems, the toy teacher (the
quick demo's, from the shared cache; built on first use), verification per kind, a dataset."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_the_toy_recipe_runs_end_to_end(tmp_path):
    from datasets import load_from_disk
    from reasoning_distill.data_recipes.pipeline import run_recipe
    from reasoning_distill.data_recipes.recipe import RECIPES_DIR, Recipe, load_recipe

    from reasoning_distill.demo.config import DemoConfig
    from reasoning_distill.toy.world import get_teacher

    teacher = get_teacher(DemoConfig.quick().teacher)
    data = load_recipe(RECIPES_DIR / "toy_math_code.yaml").model_dump(mode="json")
    for src in data["sources"]:
        src["toy"]["n"] = 24 if src["toy"]["kind"] == "math" else 8
    data["teacher"]["model"] = str(teacher.path)
    data["select"]["keep"] = "all"  # the verified share is the toy helper's to tune
    run = run_recipe(Recipe.model_validate(data), root=tmp_path, workers=2)
    ds = load_from_disk(str(run.out))
    assert len(ds) == (24 + 8) * data["teacher"]["sampling"]["n"]
    assert set(ds["kind"]) == {"math", "code"} and set(ds["source"]) == {"toy_math", "toy_code"}
    assert {v for v in ds["verifier"]} == {"math+format", "code+format"}
    verified = ds.filter(lambda r: r["correct"])
    assert all(r["messages"][-1]["content"].startswith("<think>\n") for r in verified)
    card = (run.out / "README.md").read_text()
    assert "## Pass rate per source" in card and "toy_code" in card
    again = run_recipe(Recipe.model_validate(data), root=tmp_path, workers=2)
    assert again.stats["generate"].get("generated_now") == 0
