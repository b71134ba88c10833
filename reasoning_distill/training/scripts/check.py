"""`rdistill train check --config RECIPE.yaml [flags]`: the pre-flight alone (see
`training/check.py` for what it finds); exit 0 when ready, 1 with the problems."""

from __future__ import annotations

from dataclasses import dataclass, field

from reasoning_distill.errors import ConfigError
from reasoning_distill.training.data import (
    load_tokenizer,
    load_train_dataset,
    quiet_progress,
    with_model_context,
)
from reasoning_distill.training.preflight import preflight
from reasoning_distill.training.scripts.args import (
    option_names,
    parse_config_args,
    print_report,
    run_script,
    unknown_text,
)
from reasoning_distill.training.sft_config import SFTScriptArguments, StudentSFTConfig


@dataclass
class CheckArguments:
    """Only for `train check` on a KL-stage recipe."""

    teacher_model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "The teacher of a KL stage: its vocabulary is checked against ours."},
    )


def main(argv: list[str] | None = None) -> int:
    """`rdistill train check --config RECIPE.yaml [flags]`: 0 when ready, 1 with the problems."""
    from trl import ModelConfig

    script, config, model_args, *rest = parse_config_args(
        [SFTScriptArguments, StudentSFTConfig, ModelConfig, CheckArguments],
        argv,
        allow_unknown=True,
        prog="rdistill train check",
    )
    check_args = rest[0]
    unknown = rest[1] if len(rest) > 1 else []
    if unknown and check_args.teacher_model_name_or_path is None:
        names = option_names([SFTScriptArguments, StudentSFTConfig, ModelConfig, CheckArguments])
        raise ConfigError(unknown_text(unknown, names, "unknown option or recipe key"))
    if not model_args.model_name_or_path or not script.dataset_name:
        raise ConfigError("check needs model_name_or_path and dataset_name (flags or recipe keys)")
    with quiet_progress(True):
        tokenizer = load_tokenizer(script.tokenizer_name_or_path, model_args.model_name_or_path)
        dataset = load_train_dataset(
            script.dataset_name, script.dataset_config, script.dataset_train_split
        )
        config = with_model_context(config, model_args.model_name_or_path)
        report = preflight(
            model_args.model_name_or_path,
            tokenizer,
            dataset,
            config,
            teacher_name_or_path=check_args.teacher_model_name_or_path,
        )
    if unknown:
        report.notes.append(f"keys of the KL stage not checked here: {unknown[::2]}")
    print_report(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    run_script(main)
