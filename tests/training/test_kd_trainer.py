"""The distillation stage end to end on tiny real models: Hinton scaling on and off, a cached
teacher that equals the live one, on-policy and mixed modes, and config refusals."""

from __future__ import annotations

import pytest
import torch

from reasoning_distill.training.distill_config import DistillConfig
from reasoning_distill.training.distill_trainer import train_distill
from reasoning_distill.training.kd_modes import is_on_policy_step, sample_on_policy
from reasoning_distill.training.teachers import topk_codec
from tests.training.configs import config_factory

_cfg = config_factory(DistillConfig, max_steps=2, learning_rate=5e-3)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"divergence": "kl"}, "divergence"),
        ({"beta": 2.0}, "beta"),
        ({"skew": 1.0}, "skew"),
        ({"mode": "online"}, "mode"),
        ({"lmbda": -0.1}, "lmbda"),
        ({"temperature": 0.0}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"teacher": "a", "teacher_cache": "b"}, "one teacher source"),
        ({"teacher_cache": "b", "mode": "on_policy"}, "top-k cache only holds"),
        ({"teacher_url": "http://127.0.0.1:1/v1"}, "teacher_name"),
        ({"packing": True}, "packing and padding_free"),
    ],
)
def test_config_refuses_bad_values_naming_the_field(bad, match):
    with pytest.raises(ValueError, match=match):
        _cfg(**bad)


def test_mixed_mode_picks_a_reproducible_share_of_steps():
    picks = [is_on_policy_step("mixed", 0.3, seed=1, step=s) for s in range(2000)]
    assert picks == [is_on_policy_step("mixed", 0.3, seed=1, step=s) for s in range(2000)]
    assert 0.25 < sum(picks) / len(picks) < 0.35
    assert all(is_on_policy_step("on_policy", 0.0, 0, s) for s in range(5))
    assert not any(is_on_policy_step("off_policy", 1.0, 0, s) for s in range(5))


@pytest.mark.parametrize("hinton", [True, False])
def test_hinton_scaling_multiplies_the_divergence_by_t_squared(
    hinton, tiny_model_dir, sharp_teacher_dir, train_dataset, tmp_path
):
    cfg = _cfg(max_steps=1, temperature=2.0, hinton_scaling=hinton, teacher=str(sharp_teacher_dir))
    result = train_distill(tiny_model_dir, train_dataset, tmp_path, cfg)
    rkl = result.metrics["reverse_kl"][0]
    assert result.losses[0] == pytest.approx((4.0 if hinton else 1.0) * rkl, rel=1e-4)


def test_cached_teacher_at_full_vocabulary_trains_like_the_live_teacher(
    tiny_model_dir, sharp_teacher_dir, train_dataset, train_rows, tmp_path
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reasoning_distill.training.teachers.cache import build_topk_cache
    from reasoning_distill.training.teachers.local import HFTeacher

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    teacher = AutoModelForCausalLM.from_pretrained(sharp_teacher_dir)
    build_topk_cache(
        HFTeacher(teacher, k=teacher.config.vocab_size), tok, train_rows, tmp_path / "cache",
        str(sharp_teacher_dir), codec=topk_codec.Codec(bits=32),
        max_length=_cfg().max_length,
    )  # fmt: skip
    live = train_distill(
        tiny_model_dir, train_dataset, tmp_path / "live", _cfg(teacher=str(sharp_teacher_dir))
    )
    cached = train_distill(
        tiny_model_dir,
        train_dataset,
        tmp_path / "cached",
        _cfg(teacher_cache=str(tmp_path / "cache")),
    )
    assert cached.losses == pytest.approx(live.losses, rel=1e-4)
    a = AutoModelForCausalLM.from_pretrained(live.checkpoint).state_dict()
    b = AutoModelForCausalLM.from_pretrained(cached.checkpoint).state_dict()
    for name, value in a.items():
        torch.testing.assert_close(b[name], value, rtol=1e-4, atol=1e-5)


def test_cache_of_other_data_is_refused_naming_the_cache(
    tiny_model_dir, sharp_teacher_dir, train_dataset, train_rows, tmp_path
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reasoning_distill.training.teachers.cache import build_topk_cache
    from reasoning_distill.training.teachers.local import HFTeacher

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    teacher = AutoModelForCausalLM.from_pretrained(sharp_teacher_dir)
    build_topk_cache(HFTeacher(teacher, k=8), tok, train_rows[:3], tmp_path / "c", "t")
    with pytest.raises(ValueError, match="is not in the teacher cache"):
        train_distill(
            tiny_model_dir, train_dataset, tmp_path / "run", _cfg(teacher_cache=str(tmp_path / "c"))
        )
    with pytest.raises(ValueError, match="temperature"):
        train_distill(
            tiny_model_dir, train_dataset, tmp_path / "run2",
            _cfg(teacher_cache=str(tmp_path / "c"), temperature=2.0),
        )  # fmt: skip


def test_sample_on_policy_keeps_prompts_and_trains_only_the_samples(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).train()
    ids = torch.tensor([[5, 6, 7, 8, 9, 0], [5, 6, 10, 11, 0, 0]])
    attn = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]])
    labels = torch.tensor([[-100, -100, 7, 8, 9, -100], [-100, -100, -100, 11, -100, -100]])
    torch.manual_seed(0)
    batch = sample_on_policy(model, ids, attn, labels, 5, 1.0, pad_token_id=0, eos_token_id=3)
    assert batch.input_ids[0, :2].tolist() == [5, 6] and batch.input_ids[1, :3].tolist() == [
        5,
        6,
        10,
    ]
    assert (batch.labels[0, :2] == -100).all() and (batch.labels[1, :3] == -100).all()
    for i, p in enumerate((2, 3)):
        n = int(batch.attention_mask[i].sum())
        assert 1 <= n - p <= 5
        assert (batch.labels[i, p:n] == batch.input_ids[i, p:n]).all()
        assert (batch.labels[i, n:] == -100).all()
    assert model.training  # sampled in eval mode, then put back


@pytest.mark.parametrize("mode", ["on_policy", "mixed"])
def test_on_policy_and_mixed_modes_train(
    mode, tiny_model_dir, sharp_teacher_dir, train_dataset, tmp_path
):
    from transformers import AutoModelForCausalLM

    cfg = _cfg(
        max_steps=4, mode=mode, lmbda=0.5, max_new_tokens=12, teacher=str(sharp_teacher_dir),
        divergence="jsd", beta=0.5,
    )  # fmt: skip
    result = train_distill(tiny_model_dir, train_dataset, tmp_path, cfg)
    flags = result.metrics["on_policy"]
    want = [float(is_on_policy_step(mode, 0.5, 0, s)) for s in range(4)]
    assert flags == want
    assert all(v == v and v >= 0 for v in result.metrics["jsd"])
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    after = AutoModelForCausalLM.from_pretrained(result.checkpoint).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
