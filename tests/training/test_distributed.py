"""SFT over two CPU ranks (gloo) equals one process with the same global batch."""

from __future__ import annotations

import pytest

from tests.training.launch import assert_same_final_weights, one_and_two_ranks, uneven_recipe

pytestmark = pytest.mark.slow


def test_two_rank_sft_matches_one_process_with_the_same_global_batch(tiny_model_dir, tmp_path):
    recipe = uneven_recipe(tmp_path, model_name_or_path=str(tiny_model_dir))
    one, two = one_and_two_ranks("reasoning_distill.training.scripts.sft", recipe, tmp_path)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["steps"] == two["steps"] == 4
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-5)
    # the real-token count covers both ranks
    assert two["metrics"]["num_tokens"] == pytest.approx(one["metrics"]["num_tokens"])
    assert_same_final_weights(tmp_path)
