"""SFT over two CPU ranks (gloo) equals one process with the same global batch."""

from __future__ import annotations

import json

import pytest
from launch import assert_same_final_weights, one_and_two_ranks

pytestmark = pytest.mark.slow


def test_two_rank_sft_matches_one_process_with_the_same_global_batch(tiny_model_dir, tmp_path):
    import yaml
    from arithmetic import arithmetic_messages

    short, long = arithmetic_messages(24, seed=5, terms=2), arithmetic_messages(24, 6, terms=7)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for p in zip(short, long, strict=True) for r in p))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(tiny_model_dir),
                "dataset_name": str(data),
                "max_steps": 4,
                "logging_steps": 1,
                "seed": 0,
                "save_strategy": "no",
                "train_sampling_strategy": "sequential",
                "optim": "sgd",  # see test_sft_stage: Adam amplifies float32 rounding
                "learning_rate": 0.5,
                "torch_num_threads": 1,
            }
        )
    )
    one, two = one_and_two_ranks("reasoning_distill.training.sft", recipe, tmp_path)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["steps"] == two["steps"] == 4
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-5)
    # the real-token count covers both ranks
    assert two["metrics"]["num_tokens"] == pytest.approx(one["metrics"]["num_tokens"])
    assert_same_final_weights(tmp_path)
