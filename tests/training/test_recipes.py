"""Every shipped training recipe and accelerate config loads and validates."""

from __future__ import annotations

import importlib.util
from importlib import resources

import pytest
import yaml

from reasoning_distill.training.scripts.sft import parse_args

ROOT = resources.files("reasoning_distill.training")
RECIPES = sorted(p.name for p in ROOT.joinpath("recipes").iterdir() if p.name.endswith(".yaml"))
ACCELERATE = sorted(
    p.name for p in ROOT.joinpath("accelerate").iterdir() if p.name.endswith(".yaml")
)


def _gpu_free_overrides(values: dict) -> list[str]:
    """Flags that let a GPU recipe validate on this CPU (its other values are checked as-is)."""
    import torch

    flags = []
    if values.get("bf16") and not torch.cuda.is_available():
        flags += ["--bf16", "false"]
    if values.get("use_liger_kernel") and importlib.util.find_spec("liger_kernel") is None:
        flags += ["--use_liger_kernel", "false"]
    return flags


def test_recipes_are_shipped():
    assert {"toy_student.yaml", "qwen2.5-1.5b_8gpu.yaml"} <= set(RECIPES)
    assert {"multi_gpu.yaml", "zero3.yaml", "fsdp2.yaml"} <= set(ACCELERATE)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_is_headed_by_command_and_hardware_and_validates(name):
    path = ROOT.joinpath("recipes", name)
    text = path.read_text()
    header = text.split("\n\n")[0]
    assert all(line.startswith("#") for line in header.splitlines()), header
    assert "Hardware:" in header and "Command" in header
    assert f"--config reasoning_distill/training/recipes/{name}" in header
    values = yaml.safe_load(text)
    script, config, model_args = parse_args(["--config", str(path), *_gpu_free_overrides(values)])
    assert model_args.model_name_or_path == values["model_name_or_path"]
    assert script.dataset_name == values["dataset_name"]
    assert config.output_dir == values["output_dir"]  # the run folder
    for key in ("learning_rate", "max_steps", "assistant_only_loss", "save_steps"):
        assert getattr(config, key) == values[key], key


def test_qwen_recipe_is_open_r1_distill_style():
    values = yaml.safe_load(ROOT.joinpath("recipes", "qwen2.5-1.5b_8gpu.yaml").read_text())
    assert values["max_length"] == 32768 and values["packing"] is True
    assert values["bf16"] is True and values["use_liger_kernel"] is True
    assert values["gradient_checkpointing"] is True
    assert values["num_train_epochs"] == 5 and values["learning_rate"] == 4.0e-5
    assert values["eos_token"] == "<|im_end|>"


@pytest.mark.parametrize("name", ACCELERATE)
def test_accelerate_config_loads(name):
    from accelerate.commands.config.config_args import load_config_from_file

    path = ROOT.joinpath("accelerate", name)
    text = path.read_text()
    assert f"--config_file reasoning_distill/training/accelerate/{name}" in text
    config = load_config_from_file(str(path))
    assert config.num_processes == 8 and config.mixed_precision == "bf16"
    expected = {"multi_gpu.yaml": "MULTI_GPU", "zero3.yaml": "DEEPSPEED", "fsdp2.yaml": "FSDP"}
    assert str(config.distributed_type).split(".")[-1] == expected[name]
    if name == "zero3.yaml":
        assert config.deepspeed_config["zero_stage"] == 3
    if name == "fsdp2.yaml":
        assert config.fsdp_config["fsdp_version"] == 2


def test_an_empty_flag_clears_the_recipes_teacher(tmp_path):
    """`--teacher ''` over a recipe's `teacher:` switches the source to the flag's cache."""
    from reasoning_distill.errors import ConfigError
    from reasoning_distill.training.distill_config import DistillConfig
    from reasoning_distill.training.scripts.args import parse_config_args
    from reasoning_distill.training.scripts.distill import DistillScriptArguments

    recipe = tmp_path / "r.yaml"
    recipe.write_text("teacher: runs/teacher\noutput_dir: runs/rkl\n")
    types = [DistillScriptArguments, DistillConfig]
    _, config = parse_config_args(types, ["--config", str(recipe)])
    assert config.teacher == "runs/teacher"
    with pytest.raises(ConfigError, match="give one teacher source"):
        parse_config_args(types, ["--config", str(recipe), "--teacher_cache", "runs/cache"])
    argv = ["--config", str(recipe), "--teacher", "", "--teacher_cache", "runs/cache"]
    _, config = parse_config_args(types, argv)
    assert config.teacher is None and config.teacher_cache == "runs/cache"
