"""`rdistill train sft --config RECIPE.yaml [--field value ...]`: pre-flight, train, summary.

TRL's parser over `SFTScriptArguments`, `StudentSFTConfig` and `trl.ModelConfig` (LoRA through
`use_peft`); the pre-flight runs once, here, on the tokenizer and dataset the training then
uses (`train_sft` is told to skip it).
"""

from __future__ import annotations

from dataclasses import replace

from reasoning_distill.errors import ConfigError
from reasoning_distill.training.checkpoint import check_run_dir
from reasoning_distill.training.data import (
    check_trainable_rows,
    load_tokenizer,
    load_train_dataset,
    quiet_progress,
    with_model_context,
)
from reasoning_distill.training.preflight import preflight, refuse_unready
from reasoning_distill.training.scripts.args import (
    parse_config_args,
    print_report,
    print_summary,
    run_script,
)
from reasoning_distill.training.sft_config import SFTScriptArguments, StudentSFTConfig


def parse_args(argv: list[str] | None):
    """`(SFTScriptArguments, StudentSFTConfig, ModelConfig)` from flags and `--config`."""
    from trl import ModelConfig

    return parse_config_args(
        [SFTScriptArguments, StudentSFTConfig, ModelConfig], argv, prog="rdistill train sft"
    )


def main(argv: list[str] | None = None) -> int:
    from reasoning_distill.training.sft_trainer import train_sft

    script, config, model_args = parse_args(argv)
    model = model_args.model_name_or_path
    if not model:
        raise ConfigError("set model_name_or_path (a flag or a recipe key)")
    check_run_dir(config.output_dir)  # a folder that is not ours: refused before any work
    with quiet_progress(bool(config.disable_tqdm)):
        dataset = load_train_dataset(
            script.dataset_name, script.dataset_config, script.dataset_train_split
        )
    check_trainable_rows(dataset, script.dataset_name, config.assistant_only_loss)
    with quiet_progress(True):
        tokenizer = load_tokenizer(script.tokenizer_name_or_path, model)
    if not config.skip_check:
        with quiet_progress(True):
            config = with_model_context(config, model)
            report = preflight(model, tokenizer, dataset, config)
        print_report(report)
        refuse_unready(report)
        config = replace(config, skip_check=True)  # checked once, here
    result = train_sft(model, tokenizer, dataset, config.output_dir, config, model_args=model_args)
    print_summary(
        {
            "checkpoint": str(result.checkpoint),
            "steps": result.steps,
            "first_loss": round(result.first_loss, 4),
            "last_loss": round(result.last_loss, 4),
            "train_runtime_s": round(result.train_runtime_s, 1),
        }
    )
    return 0


if __name__ == "__main__":
    run_script(main)
