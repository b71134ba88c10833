"""Train a student: `sft`, the white-box stage `distill` (`rkl` is its older name), the top-k
teacher `cache` for it, or `check` (the pre-flight alone).

    rdistill train check --config RECIPE.yaml
    rdistill train sft --config RECIPE.yaml [--field value ...]
    rdistill train distill --config RECIPE.yaml [--field value ...]
    rdistill train cache --teacher DIR --dataset_name DATA --output_dir CACHE [--top_k K]
    accelerate launch --config_file reasoning_distill/training/accelerate/multi_gpu.yaml \\
        -m reasoning_distill.cli.main train sft --config RECIPE.yaml

Each stage is a script of `reasoning_distill/training/scripts/`. Each stage parses its own options with TRL's parser: every field of its config dataclasses
(`StudentSFTConfig` with all of TRL's `SFTConfig`, `trl.ModelConfig`, the script arguments)
is a flag (`--learning_rate 1e-5`), a recipe's keys are the defaults, and `output_dir` is the
run folder (checkpoints, `final/`, `train_log.json`). `rdistill train STAGE --help` lists
them. Shipped recipes: reasoning_distill/training/recipes/. Both train stages run the check
first (`--skip_check true` to skip it) and exit 2 when it finds problems; `check` exits 0 when
ready and 1 with the problems. An interrupted `sft` or `distill` continues from its newest complete
checkpoint with `--resume true`; `output_dir` must be new, empty or a run folder of ours.
"""

from __future__ import annotations

import argparse
import importlib
import sys

HELP = (
    "train a student with SFT or white-box distillation against a teacher, or check a recipe first"
)

# stage -> "module:function", each `function(argv: list[str]) -> int`
STAGES = {
    "sft": "reasoning_distill.training.scripts.sft:main",
    "distill": "reasoning_distill.training.scripts.distill:main",
    "rkl": "reasoning_distill.training.scripts.distill:main",  # the older name of distill
    "check": "reasoning_distill.training.scripts.check:main",
    "cache": "reasoning_distill.training.scripts.cache:main",  # the top-k cache for distill
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("stage", choices=sorted(STAGES), help=", ".join(sorted(STAGES)))
    parser.add_argument(
        "stage_args",
        nargs=argparse.REMAINDER,
        metavar="...",
        help="the stage's own options (rdistill train STAGE --help)",
    )


def entry_point(stage: str):
    """The stage's `main(argv) -> int`."""
    module, _, name = STAGES[stage].partition(":")
    return getattr(importlib.import_module(module), name)


def main(args: argparse.Namespace) -> int:
    try:
        return int(entry_point(args.stage)(list(args.stage_args)) or 0)
    except KeyboardInterrupt:
        if args.stage not in RESUMABLE:
            raise
        print(f"rdistill train: interrupted; {resume_hint(args.stage_args)}", file=sys.stderr)
        return 130


# stages that save checkpoint-N folders a rerun can continue from
RESUMABLE = ("sft", "distill", "rkl")


def resume_hint(stage_args: list[str]) -> str:
    """What to run to continue an interrupted training: without `--resume true` a rerun
    refuses the folder's checkpoints (or starts over when none was saved yet)."""
    if _asks_resume(stage_args):
        return "rerun the same command to continue from the newest complete checkpoint"
    return (
        "the checkpoints saved so far are kept: rerun the same command with --resume true to "
        "continue from the newest complete one"
    )


def _asks_resume(stage_args: list[str]) -> bool:
    """Whether the flags already say `--resume` (alone, `true`, `--resume=yes`, ...)."""
    truthy = ("true", "yes", "1", "t", "y")
    for i, arg in enumerate(stage_args):
        if arg.startswith("--resume="):
            return arg.partition("=")[2].lower() in truthy
        if arg == "--resume":
            value = stage_args[i + 1] if i + 1 < len(stage_args) else "--"
            return value.startswith("--") or value.lower() in truthy
    return False
