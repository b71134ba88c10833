"""The distillation stage over two CPU ranks (gloo) equals one process with the same global
batch: logged losses, the logged reverse KL and the final weights, at float32 tolerance."""

from __future__ import annotations

import pytest

from tests.training.launch import assert_same_final_weights, one_and_two_ranks, uneven_recipe

pytestmark = pytest.mark.slow


def test_two_rank_reverse_kl_matches_one_process(tiny_model_dir, sharp_teacher_dir, tmp_path):
    recipe = uneven_recipe(
        tmp_path,
        model_name_or_path=str(tiny_model_dir),
        teacher_model_name_or_path=str(sharp_teacher_dir),
        alpha=0.25,
    )
    one, two = one_and_two_ranks("reasoning_distill.training.scripts.distill", recipe, tmp_path)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["steps"] == two["steps"] == 4
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-5)
    assert two["metrics"]["reverse_kl"] == pytest.approx(one["metrics"]["reverse_kl"], rel=1e-5)
    assert two["metrics"]["ce"] == pytest.approx(one["metrics"]["ce"], rel=1e-5)
    assert one["losses"][-1] < one["losses"][0]
    assert_same_final_weights(tmp_path)
