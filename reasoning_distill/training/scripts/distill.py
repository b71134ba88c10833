"""`rdistill train distill --config RECIPE.yaml [--field value ...]` (`rkl` is the same
command): the white-box stage's pre-flight, training and summary.

TRL's parser over `DistillScriptArguments` and `DistillConfig`; the pre-flight runs once, here
(`train_distill` is told to skip it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from reasoning_distill.errors import ConfigError
from reasoning_distill.training.checkpoint import check_run_dir
from reasoning_distill.training.data import (
    check_trainable_rows,
    load_tokenizer,
    load_train_dataset,
    quiet_progress,
)
from reasoning_distill.training.distill_config import DistillConfig
from reasoning_distill.training.preflight import preflight, refuse_unready
from reasoning_distill.training.scripts.args import (
    parse_config_args,
    print_report,
    print_summary,
    run_script,
)


@dataclass
class DistillScriptArguments:
    """What the distillation stage's command line names besides its `DistillConfig`."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "The student to start from (usually an SFT checkpoint)."}
    )
    teacher_model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "The teacher checkpoint (same tokenizer); same as --teacher."},
    )
    dataset_name: str | None = field(
        default=None, metadata={"help": "A save_to_disk folder or a .jsonl file of messages."}
    )


def main(argv: list[str] | None = None) -> int:
    """`rdistill train distill (or rkl) --config RECIPE.yaml [--field value ...]`: check, train, summary.

    Every `DistillConfig` field is a flag (`--divergence jsd --beta 0.5`, `--mode on_policy`,
    `--teacher_cache DIR`, `--teacher_url URL --teacher_name NAME`), a recipe's keys are the
    defaults; `output_dir` is the run folder.
    """
    from reasoning_distill.training.distill_trainer import train_distill

    script, config = parse_config_args(
        [DistillScriptArguments, DistillConfig], argv, prog="rdistill train distill"
    )
    if not script.model_name_or_path:
        raise ConfigError("set model_name_or_path (the student: a flag or a recipe key)")
    if not script.dataset_name:
        raise ConfigError("set dataset_name (a save_to_disk folder or a .jsonl file)")
    if script.teacher_model_name_or_path:
        if config.teacher not in (None, script.teacher_model_name_or_path):
            raise ConfigError("teacher_model_name_or_path and teacher name different teachers")
        config = replace(config, teacher=script.teacher_model_name_or_path)
    check_run_dir(config.output_dir)  # a folder that is not ours: refused before any work
    with quiet_progress(True):
        dataset = load_train_dataset(script.dataset_name)
    check_trainable_rows(dataset, script.dataset_name, config.assistant_only_loss)
    if not config.skip_check:
        with quiet_progress(True):
            tokenizer = load_tokenizer(None, script.model_name_or_path)
            report = preflight(
                script.model_name_or_path, tokenizer, dataset, config, config.teacher
            )
        print_report(report)
        refuse_unready(report)
        config = replace(config, skip_check=True)  # checked once, here
    result = train_distill(
        script.model_name_or_path, script.dataset_name, config.output_dir, config
    )
    divergence = result.metrics.get(config.divergence) or [float("nan")]
    print_summary(
        {
            "checkpoint": str(result.checkpoint),
            "steps": result.steps,
            "first_loss": round(result.first_loss, 4),
            "last_loss": round(result.last_loss, 4),
            config.divergence: round(float(divergence[-1]), 4),
            "train_runtime_s": round(result.train_runtime_s, 1),
        }
    )
    return 0


if __name__ == "__main__":
    run_script(main)
