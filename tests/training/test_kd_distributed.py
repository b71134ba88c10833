"""The distillation stage over two CPU ranks (gloo) equals one process with the same global
batch: logged losses, the logged reverse KL and the final weights, at float32 tolerance."""

from __future__ import annotations

import json
import socket

import pytest
import torch
from launch import run_entry

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return dict(AutoModelForCausalLM.from_pretrained(path).named_parameters())


def test_two_rank_reverse_kl_matches_one_process(tiny_model_dir, sharp_teacher_dir, tmp_path):
    import yaml
    from arithmetic import arithmetic_messages

    # rows of very different lengths, so the ranks hold different token counts
    short, long = arithmetic_messages(24, seed=5, terms=2), arithmetic_messages(24, 6, terms=7)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for p in zip(short, long, strict=True) for r in p))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(tiny_model_dir),
                "teacher_model_name_or_path": str(sharp_teacher_dir),
                "dataset_name": str(data),
                "max_steps": 4,
                "logging_steps": 1,
                "seed": 0,
                "save_strategy": "no",
                "train_sampling_strategy": "sequential",
                "optim": "sgd",  # Adam's normalisation amplifies float32 rounding differences
                "learning_rate": 0.5,
                "alpha": 0.25,
                "torch_num_threads": 1,
            }
        )
    )
    runs = {}
    for procs, per_device in ((1, 8), (2, 4)):
        out_dir = tmp_path / f"p{procs}"
        run_entry(
            "reasoning_distill.training.rkl",
            ["--config", str(recipe), "--output_dir", str(out_dir),
             "--per_device_train_batch_size", str(per_device)],
            processes=procs,
            port=_free_port(),
        )  # fmt: skip
        runs[procs] = json.loads((out_dir / "train_log.json").read_text())
    one, two = runs[1], runs[2]
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["steps"] == two["steps"] == 4
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-5)
    assert two["metrics"]["reverse_kl"] == pytest.approx(one["metrics"]["reverse_kl"], rel=1e-5)
    assert two["metrics"]["ce"] == pytest.approx(one["metrics"]["ce"], rel=1e-5)
    assert one["losses"][-1] < one["losses"][0]
    a, b = _weights(tmp_path / "p1" / "final"), _weights(tmp_path / "p2" / "final")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)
