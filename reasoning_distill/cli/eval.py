"""Evaluate models on benchmarks under one protocol and write the teacher-gap report.

  rdistill eval --model teacher=deepseek-ai/DeepSeek-R1-Distill-Qwen-7B \\
      --model student=runs/student/final --teacher teacher \\
      --benchmark math500=../data/math500_test.jsonl --benchmark aime2024 \\
      --engine vllm --n 4 --max-tokens 32768 --temperature 0.6 --top-p 0.95 --out runs/eval

Every model gets the same prompts, sampling and number of samples. Samples and verdicts are
kept under --out/<model>/<benchmark>/ (an interrupted evaluation resumes); the per-problem
results go to --out/results.json and, with --teacher, report.json / report.md / report.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate models on benchmarks (same protocol for all) and report the teacher gap"


def _pair(text: str) -> tuple[str, str | None]:
    name, sep, value = text.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"expected NAME or NAME=VALUE, got {text!r}")
    return name, (value if sep else None)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "--model",
        action="append",
        type=_pair,
        required=True,
        metavar="NAME=PATH",
        help="a model to evaluate (repeatable)",
    )
    p.add_argument(
        "--benchmark",
        action="append",
        type=_pair,
        required=True,
        metavar="NAME[=FILE]",
        help="a registered benchmark, from a local JSONL "
        "file or its hub dataset (repeatable); see `reasoning_distill.eval.benchmarks`",
    )
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--teacher", default=None, help="model NAME that recovery is measured against")
    p.add_argument("--limit", type=int, default=None, help="first N problems per benchmark")
    p.add_argument("--engine", choices=["hf", "vllm", "openai"], default="hf")
    p.add_argument("--n", type=int, default=4, help="samples per problem")
    p.add_argument("--temperature", type=float, default=0.6)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-tokens", type=int, default=32768)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--workers", type=int, default=None, help="verifier processes")


def main(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.markdown import Markdown

    from reasoning_distill.cli.rich_progress import RichProgress
    from reasoning_distill.eval.benchmarks import load_benchmark
    from reasoning_distill.eval.evaluate import Protocol, evaluate_model
    from reasoning_distill.eval.gap_report import build_gap_report, render_markdown, write_report
    from reasoning_distill.generation.factory import make_engine

    console = Console()
    models = dict(args.model)
    if any(v is None for v in models.values()):
        raise SystemExit("--model takes NAME=PATH")
    if args.teacher is not None and args.teacher not in models:
        raise SystemExit(
            f"--teacher {args.teacher!r} is not one of the --model names {list(models)}"
        )
    benchmarks = {name: load_benchmark(name, path, args.limit) for name, path in args.benchmark}
    protocol = Protocol(
        n=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        seed=args.seed,
        engine=args.engine,
    )
    progress = RichProgress()
    results: dict[str, dict] = {b: {} for b in benchmarks}
    for name, path in models.items():
        engine = make_engine(args.engine, path)
        try:
            per_bench = evaluate_model(
                engine,
                benchmarks,
                protocol,
                args.out / name,
                workers=args.workers,
                progress=progress,
            )
        finally:
            engine.close()
        for bench, per_problem in per_bench.items():
            results[bench][name] = per_problem
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results))
    teacher = args.teacher or next(iter(models))
    report = build_gap_report(
        results, teacher=teacher, protocol={**protocol.to_dict(), "models": models}
    )
    if args.teacher is not None:
        write_report(report, args.out)
    console.print(Markdown(render_markdown(report)))
    return 0
