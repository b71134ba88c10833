"""Training FLOPs per token: the parameter count by hand for tiny Qwen2 models, tied or not."""

from __future__ import annotations

import pytest

from reasoning_distill.training.compute_budget import (
    forward_flops_per_token,
    matched_sft_steps,
    step_cost,
)


def _save(tmp_path, name, hidden, layers, tied, vocab=100):
    from transformers import Qwen2Config

    config = Qwen2Config(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=3 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        tie_word_embeddings=tied,
    )  # fmt: skip
    path = tmp_path / name
    config.save_pretrained(path)
    return path


def _by_hand(hidden, layers, vocab=100):
    kv = hidden // 4 * 2  # 2 of 4 heads' width for k and v
    attention = hidden * hidden * 2 + hidden * kv * 2 + (hidden + 2 * kv)  # q, o, k, v + biases
    mlp = 3 * hidden * 3 * hidden
    norms = 2 * hidden
    return layers * (attention + mlp + norms) + hidden + vocab * hidden  # final norm + head


@pytest.mark.parametrize("tied", [True, False])
def test_forward_flops_count_every_multiplied_weight_once(tmp_path, tied):
    path = _save(tmp_path, "m", hidden=32, layers=2, tied=tied)
    # the embedding lookup is not a multiplication; the head is, whether tied or not
    assert forward_flops_per_token(path) == 2 * _by_hand(32, 2)


def test_step_costs_and_matched_steps(tmp_path):
    assert step_cost("sft", 10, 40) == 30
    assert step_cost("off_policy", 10, 40) == 70
    assert step_cost("on_policy", 10, 40) == 80
    assert step_cost("mixed", 10, 40, lmbda=0.25) == pytest.approx(0.25 * 80 + 0.75 * 70)
    with pytest.raises(ValueError, match="mode"):
        step_cost("offpolicy", 10, 40)
    student = _save(tmp_path, "s", hidden=32, layers=2, tied=True)
    teacher = _save(tmp_path, "t", hidden=64, layers=2, tied=True)
    fs, ft = 2 * _by_hand(32, 2), 2 * _by_hand(64, 2)
    assert matched_sft_steps(150, "off_policy", student, teacher) == round(
        150 * (3 * fs + ft) / (3 * fs)
    )
    assert matched_sft_steps(150, "on_policy", student, teacher) > matched_sft_steps(
        150, "off_policy", student, teacher
    )
    assert matched_sft_steps(150, "sft", student, teacher) == 150
