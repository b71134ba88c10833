"""The reverse-KL stage against a fixed tiny teacher, and its refusal of foreign vocabularies."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from reasoning_distill.training.distill_config import DistillConfig
from reasoning_distill.training.distill_trainer import mean_reverse_kl, train_distill
from tests.training.configs import STEADY, config_factory


def train_reverse_kl(student, teacher, dataset, output_dir, config):
    """Off-policy reverse KL toward the teacher checkpoint `teacher`."""
    return train_distill(student, dataset, output_dir, replace(config, teacher=str(teacher)))


_cfg = config_factory(DistillConfig, **STEADY, divergence="reverse_kl", learning_rate=5e-3)


def test_rkl_stage_lowers_reverse_kl_to_a_fixed_teacher(
    tiny_model_dir, sharp_teacher_dir, train_dataset, train_rows, tmp_path
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    teacher = AutoModelForCausalLM.from_pretrained(sharp_teacher_dir).eval()
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    held_out = train_rows[-8:]
    student0 = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    before = mean_reverse_kl(student0, teacher, tok, held_out)

    result = train_reverse_kl(tiny_model_dir, sharp_teacher_dir, train_dataset, tmp_path, _cfg())

    student1 = AutoModelForCausalLM.from_pretrained(result.checkpoint).eval()
    after = mean_reverse_kl(student1, teacher, tok, held_out)
    assert result.steps == 30
    assert after < 0.7 * before, (before, after)
    # with alpha=0 the logged loss is the reverse KL itself, and it fell during training
    assert result.metrics["reverse_kl"] == pytest.approx(result.losses, rel=1e-3)
    assert result.last_loss < result.first_loss
    # the teacher on disk is untouched
    reloaded = AutoModelForCausalLM.from_pretrained(sharp_teacher_dir)
    for k, v in reloaded.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k


def test_alpha_mixes_in_cross_entropy(tiny_model_dir, sharp_teacher_dir, train_dataset, tmp_path):
    result = train_reverse_kl(
        tiny_model_dir,
        sharp_teacher_dir,
        train_dataset,
        tmp_path,
        _cfg(max_steps=1, logging_steps=1, alpha=0.25),
    )
    rkl, ce = result.metrics["reverse_kl"][0], result.metrics["ce"][0]
    assert result.losses[0] == pytest.approx(0.75 * rkl + 0.25 * ce, rel=1e-4)


def test_refuses_teacher_with_another_vocabulary(
    tiny_model_dir, other_vocab_model_dir, train_dataset, tmp_path
):
    with pytest.raises(ValueError, match="vocabularies differ"):
        train_reverse_kl(tiny_model_dir, other_vocab_model_dir, train_dataset, tmp_path, _cfg())
    assert not (tmp_path / "final").exists()


def test_refuses_same_size_vocabulary_with_other_tokens():
    """Equal sizes are not equal vocabularies: two swapped token ids are refused."""
    import json

    from transformers import Qwen2Tokenizer

    from reasoning_distill.toy.tokenizer import SPECIAL_TOKENS, train_tokenizer
    from reasoning_distill.training.distill_trainer import check_same_vocabulary

    a = train_tokenizer(["alpha beta gamma 123"] * 10, vocab_size=300)
    b = train_tokenizer(["alpha beta gamma 123"] * 10, vocab_size=300)
    check_same_vocabulary(a, b)
    state = json.loads(b.backend_tokenizer.to_str())["model"]
    vocab = dict(state["vocab"])
    vocab["a"], vocab["b"] = vocab["b"], vocab["a"]
    swapped = Qwen2Tokenizer(
        vocab=vocab,
        merges=[tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]],
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    assert len(swapped) == len(a)
    with pytest.raises(ValueError, match="vocabularies differ"):
        check_same_vocabulary(a, swapped)
