"""Train a student: `sft` on a `messages` dataset, or `rkl`, the reverse-KL stage against a teacher.

    rdistill train sft --model M --dataset DIR_or_jsonl --out DIR [--max-steps N] [--config cfg.yaml]
    rdistill train rkl --student S --teacher T --dataset DIR_or_jsonl --out DIR [--config cfg.yaml]

`--config` is a YAML mapping of any `StudentSFTConfig` / `ReverseKLConfig` field (TRL's
`SFTConfig` fields included); the flags below override it. The model lands in `OUT/final`,
the loss history in `OUT/train_log.json`.
"""

from __future__ import annotations

import argparse
import json
import logging

HELP = "train a student with SFT, or run the reverse-KL stage against a teacher"

logger = logging.getLogger(__name__)

# flag dest -> config field; None values are not passed, so YAML / defaults stay in force
_OVERRIDES = {
    "max_steps": "max_steps",
    "learning_rate": "learning_rate",
    "batch_size": "per_device_train_batch_size",
    "seed": "seed",
    "logging_steps": "logging_steps",
    "report_to": "report_to",
    "num_threads": "torch_num_threads",
    "alpha": "alpha",
    "temperature": "temperature",
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="a save_to_disk folder or a .jsonl file")
    p.add_argument("--out", required=True, help="run directory; the model goes to OUT/final")
    p.add_argument("--config", default=None, help="YAML of config fields (flags override it)")
    p.add_argument("--max-steps", type=int, default=None, help="exact optimiser steps")
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="per-device train batch size")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--logging-steps", type=int, default=None)
    p.add_argument("--report-to", default=None, help="none, wandb, tensorboard, ...")
    p.add_argument("--num-threads", type=int, default=None, help="torch threads in this process")
    p.add_argument("--progress", action="store_true", help="draw the trainer's progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    sft = sub.add_parser("sft", help="supervised fine-tuning on assistant turns")
    sft.add_argument("--model", required=True, help="student checkpoint folder")
    sft.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the model's)")
    _common(sft)
    rkl = sub.add_parser("rkl", help="reverse KL(student || teacher), teacher-forced, offline")
    rkl.add_argument("--student", required=True, help="student checkpoint folder (start point)")
    rkl.add_argument("--teacher", required=True, help="teacher checkpoint folder (same tokenizer)")
    rkl.add_argument("--alpha", type=float, default=None, help="weight of the SFT CE in [0, 1]")
    rkl.add_argument("--temperature", type=float, default=None)
    _common(rkl)


def main(args: argparse.Namespace) -> int:
    from reasoning_distill.training.config import ReverseKLConfig, StudentSFTConfig, load_config

    overrides = {
        field: getattr(args, dest) for dest, field in _OVERRIDES.items() if hasattr(args, dest)
    }
    if args.progress:
        overrides["disable_tqdm"] = False
    try:
        if args.stage == "sft":
            from reasoning_distill.training.sft import train_sft

            config = load_config(StudentSFTConfig, args.config, overrides)
            result = train_sft(args.model, args.tokenizer, args.dataset, args.out, config)
        else:
            from reasoning_distill.training.rkl import train_reverse_kl

            config = load_config(ReverseKLConfig, args.config, overrides)
            result = train_reverse_kl(args.student, args.teacher, args.dataset, args.out, config)
    except (ValueError, RuntimeError, OSError) as e:  # bad input: a message, not a traceback
        logger.error("%s", e)
        return 2
    print(
        json.dumps(
            {
                "checkpoint": str(result.checkpoint),
                "steps": result.steps,
                "first_loss": round(result.first_loss, 4),
                "last_loss": round(result.last_loss, 4),
                "train_runtime_s": round(result.train_runtime_s, 1),
            }
        )
    )
    return 0
