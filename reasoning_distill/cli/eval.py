"""Evaluate models on benchmarks under one protocol; with --teacher, write the teacher-gap report.

  rdistill eval --model teacher=deepseek-ai/DeepSeek-R1-Distill-Qwen-7B \\
      --model student=runs/student/final --teacher teacher \\
      --benchmark math500=../data/math500_test.jsonl --benchmark aime2024 \\
      --engine vllm --tensor-parallel 1 --n 4 --out runs/eval

Every model gets the same prompts, sampling and number of samples. Each model's samples,
verdicts and results.json (the protocol manifest, per-problem results and metrics) go to
--out/<model>/; an interrupted evaluation resumes, and a rerun that changes only the scoring
re-scores the stored samples. With --teacher, the gap report (gap.json, gap.md, gap.html)
goes to --out/gap/; with one model, only its results are written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reasoning_distill.cli.engine_options import add_engine_arguments, add_sampling_arguments
from reasoning_distill.cli.gap import add_allow_mismatch
from reasoning_distill.cli.verify import add_format_arguments, add_ray_arguments

HELP = "evaluate models on benchmarks (one protocol for all) and report the teacher gap"


def _name_value(text: str) -> tuple[str, str | None]:
    """`NAME=VALUE` (or a bare `NAME`) as given to --model and --benchmark."""
    name, sep, value = text.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"expected NAME or NAME=VALUE, got {text!r}")
    return name, (value if sep else None)


def _name_int(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not name or not sep or number < 1:
        raise argparse.ArgumentTypeError(
            f"expected BENCHMARK=TOKENS (a positive int), got {text!r}"
        )
    return name, number


def _date_window(text: str) -> tuple[str | None, str | None]:
    from datetime import date

    start, sep, end = text.partition(":")
    try:
        for part in (start, end):
            if part:
                date.fromisoformat(part)
    except ValueError:
        sep = ""
    if not sep or not (start or end):
        raise argparse.ArgumentTypeError(f"expected FROM:TO with ISO dates, got {text!r}")
    return start or None, end or None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "--model",
        action="append",
        type=_name_value,
        required=True,
        metavar="NAME=PATH",
        help="a model to evaluate: a local folder or a hub id (repeatable)",
    )
    p.add_argument(
        "--benchmark",
        action="append",
        type=_name_value,
        required=True,
        metavar="NAME[=FILE]",
        help="a registered benchmark, from a local file or its hub dataset (repeatable); "
        "see `reasoning_distill.eval.benchmarks`",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (resumed if ours)")
    p.add_argument(
        "--teacher",
        default=None,
        metavar="NAME",
        help="the --model that recovery is measured against; without it no gap report",
    )
    p.add_argument("--limit", type=int, default=None, help="first N problems per benchmark")
    p.add_argument(
        "--date-window",
        type=_date_window,
        default=None,
        metavar="FROM:TO",
        help="LiveCodeBench: problems with contest dates in [FROM, TO) (ISO dates; "
        "either may be empty)",
    )
    p.add_argument(
        "--max-tokens-for",
        action="append",
        type=_name_int,
        default=[],
        metavar="BENCHMARK=TOKENS",
        help="max tokens for one benchmark (repeatable); overrides --max-tokens there",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="verifier processes; under --ray, each actor's CPUs and workers (1)",
    )
    add_ray_arguments(
        p,
        "score the samples in Ray actors across the cluster's machines, as `rdistill "
        "verify --ray` (default: one actor per --workers CPUs); same verdicts, resumed alike",
    )
    add_format_arguments(
        p,
        True,
        "fail a sample that is cut off or has no closed think block before its answer counts "
        "(default: on; --no-check-format scores the answer alone)",
    )
    add_allow_mismatch(
        p, "write the gap report even when the models' protocols differ (listed at its top)"
    )
    add_engine_arguments(p)
    g = add_sampling_arguments(p, n=4, seed=1234, title="sampling (defaults: R1's evaluation)")
    # Each benchmark has its own default budget (AIME needs 32k tokens, the toy ones 96).
    g.set_defaults(max_tokens=None)
    for action in g._group_actions:
        if action.dest == "max_tokens":
            action.help = "max tokens for every benchmark (default: each benchmark's own)"


def check_arguments(args: argparse.Namespace):
    """Everything that can be checked before a model loads; returns the prepared run.

    Raises a `UserError` naming the flag or file at fault.
    """
    from reasoning_distill.cli.engine_options import check_engine_arguments, engine_opts
    from reasoning_distill.errors import ConfigError
    from reasoning_distill.eval.evaluate import DEFAULT_MAX_TOKENS, EVAL_MARKER, EvalProtocol
    from reasoning_distill.eval.inputs import check_benchmark_names, check_models, load_benchmarks
    from reasoning_distill.eval.models import check_context_length, check_model
    from reasoning_distill.eval.paths import check_out_dir
    from reasoning_distill.generation.options import sampling_params

    models = check_models(args.model, args.teacher)
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    token_budgets = dict(args.max_tokens_for)
    check_benchmark_names(args.benchmark, token_budgets)
    if args.max_tokens is not None and args.max_tokens < 1:
        raise ConfigError(f"--max-tokens must be >= 1, got {args.max_tokens}")
    check_engine_arguments(args)
    try:
        protocol = EvalProtocol(
            sampling_params(vars(args), max_tokens=args.max_tokens or DEFAULT_MAX_TOKENS),
            max_tokens=args.max_tokens,
            engine=args.engine,
            engine_options={k: v for k, v in engine_opts(args).items() if v is not None},
            check_format=args.check_format,
            require_think=not args.no_think,
        )
    except ValueError as e:
        raise ConfigError(f"sampling: {e}") from e
    check_out_dir(args.out, EVAL_MARKER)
    benchmarks = load_benchmarks(
        args.benchmark,
        n=protocol.n,
        limit=args.limit,
        window=args.date_window,
        max_tokens=args.max_tokens,
        token_budgets=token_budgets,
    )
    for path in models.values():
        check_model(path, args.engine)
        if args.engine == "vllm":
            check_context_length(path, args.max_model_len)
    return models, benchmarks, protocol


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from reasoning_distill.cli.rich_progress import RichProgress
    from reasoning_distill.cli.verify import ray_grader_of
    from reasoning_distill.eval.evaluate import evaluate_models

    console = Console()
    models, benchmarks, protocol = check_arguments(args)
    grade = ray_grader_of(args)  # a missing ray or an unreachable cluster, before a model loads
    outcome = evaluate_models(
        models,
        benchmarks,
        protocol,
        args.out,
        teacher=args.teacher,
        workers=args.workers,
        allow_mismatch=args.allow_mismatch,
        progress=RichProgress(),
        grade=grade,
    )
    for warning in outcome.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    for name, path in outcome.results.items():
        console.print(f"{name}: results in {escape(str(path))}")
    console.print(escape(outcome.summary_markdown))
    if outcome.gap_dir is None:
        console.print(
            "one model (or no --teacher): results only, no gap report; "
            "give --teacher NAME and a student --model, or run `rdistill gap` on the results"
        )
    else:
        console.print(f"gap report: {escape(str(outcome.gap_dir))} (gap.md, gap.html, gap.json)")
    return 0
