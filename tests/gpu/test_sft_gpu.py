"""The SFT stage's GPU options on a real GPU: bf16, gradient checkpointing, packing with
padding-free batches, SDPA attention, and Liger kernels when installed."""

from __future__ import annotations

import importlib.util
import math

import pytest

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("liger", [False, True])
def test_packed_bf16_checkpointed_sft_on_cuda(student_dir, sft_rows, tmp_path, liger):
    import torch
    from datasets import Dataset
    from trl import ModelConfig

    from reasoning_distill.training.sft_config import StudentSFTConfig
    from reasoning_distill.training.sft_trainer import train_sft
    from tests.training.configs import small_config

    if liger and importlib.util.find_spec("liger_kernel") is None:
        pytest.skip("liger-kernel is not installed")
    cfg = small_config(
        StudentSFTConfig,
        max_steps=20,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        logging_steps=5,
        bf16=torch.cuda.is_bf16_supported(),
        gradient_checkpointing=True,
        packing=True,
        padding_free=True,
        max_length=256,
        use_liger_kernel=liger,
        save_strategy="no",
    )
    model_args = ModelConfig(attn_implementation="sdpa")
    result = train_sft(
        student_dir, None, Dataset.from_list(sft_rows), tmp_path, cfg, model_args=model_args
    )
    assert result.steps == 20
    assert all(math.isfinite(x) for x in result.losses), result.losses
    assert result.last_loss < result.first_loss, result.losses
    assert result.metrics["tokens_per_second"][-1] > 0
