"""The teacher-gap report from saved evaluation results, without any model.

  rdistill gap --teacher runs/eval/teacher --student runs/eval/student --out runs/gap

Each --teacher / --student is a results.json written by `rdistill eval` (or its folder).
A student trained over several seeds is given once per seed under one label, and reported
pooled with intervals that include seed variance, each seed's figures beside:

  rdistill gap --teacher runs/eval/teacher --student verified=runs/eval/s0 \
      --student verified=runs/eval/s1 --student verified=runs/eval/s2 --out runs/gap

Results made under protocols that differ in anything that changes the numbers (sampling,
token budgets, engine and its version, dtype, tensor parallelism, benchmark data or prompt,
verifier) are refused with every difference named; --allow-mismatch writes the report anyway
with the differences at its top. Writes gap.json, gap.md and a self-contained gap.html.

A plain results file {benchmark: {model: {problem_id: [bool per sample]}}} (optionally under
"results", beside "verification", "protocol" and "targets") is read with --results; there
--teacher names one of its models:

  rdistill gap --results results.json --teacher teacher --out report/ --compare verified:answer_only
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HELP = "the teacher-gap report (pass@1, intervals, recovery, per problem) from saved results"

logger = logging.getLogger(__name__)

GAP_MARKER = "gap.json"
REPORT_MARKER = "report.json"


def _model_pair(text: str) -> tuple[str, str]:
    """`A:B`, two model names whose paired difference A - B is reported."""
    a, sep, b = text.partition(":")
    if not sep or not a or not b:
        raise argparse.ArgumentTypeError(f"expected MODEL_A:MODEL_B, got {text!r}")
    return a, b


def add_allow_mismatch(p: argparse.ArgumentParser, help: str) -> None:
    """`--allow-mismatch`, as `rdistill gap` and `rdistill eval --teacher` both take it: write
    the gap report even when the protocols differ, the differences listed at its top."""
    p.add_argument("--allow-mismatch", action="store_true", help=help)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "--teacher",
        default=None,
        help="the teacher's results.json (or its folder); with --results, a model name "
        "(default there: teacher)",
    )
    p.add_argument(
        "--student",
        action="append",
        default=[],
        type=Path,
        help="a student's results.json or its folder, optionally LABEL=PATH (repeatable); "
        "results with one label (or one model name) are training seeds of one student, "
        "reported pooled with seed-aware intervals",
    )
    p.add_argument("--out", required=True, type=Path, help="folder for the report")
    add_allow_mismatch(p, "report even when the protocols differ (the differences head the report)")
    p.add_argument("--results", type=Path, default=None, help="a plain multi-model results file")
    p.add_argument(
        "--compare",
        action="append",
        type=_model_pair,
        default=[],
        metavar="A:B",
        help="with --results: paired difference A - B on every benchmark (repeatable)",
    )
    p.add_argument("--title", default="Teacher-gap report")


def _plain_report(args: argparse.Namespace, console) -> int:
    from rich.markdown import Markdown

    from reasoning_distill.errors import ConfigError, InputError
    from reasoning_distill.eval.gap_report import build_gap_report, render_markdown, write_report
    from reasoning_distill.eval.paths import check_out_dir
    from reasoning_distill.eval.results import load_plain_results

    if args.student:
        raise ConfigError("--student reads results.json envelopes; it does not go with --results")
    results, extra, verification, protocol = load_plain_results(args.results)
    known = sorted({m for models in results.values() for m in models})
    args.teacher = args.teacher or "teacher"
    if args.teacher not in known:
        raise ConfigError(
            f"--teacher {args.teacher!r} is not a model in {args.results}; known: {', '.join(known)}"
        )
    for a, b in args.compare:
        for name in (a, b):
            if name not in known:
                raise ConfigError(
                    f"--compare {a}:{b}: {name!r} is not a model in {args.results}; "
                    f"known: {', '.join(known)}"
                )
    check_out_dir(args.out, REPORT_MARKER)
    protocol = dict(protocol or {}, results_file=str(args.results))
    try:
        report = build_gap_report(
            results,
            teacher=args.teacher,
            verification=verification,
            protocol=protocol,
            extra=extra,
            compare=args.compare,
        )
    except (ValueError, TypeError) as e:
        raise InputError(f"--results {args.results}: {e}") from e
    paths = write_report(report, args.out, title=args.title)
    console.print(Markdown(render_markdown(report, title=args.title)))
    for kind, path in paths.items():
        logger.info("%s: %s", kind, path)
    return 0


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from reasoning_distill.errors import ConfigError
    from reasoning_distill.eval.gap import build_gap, write_gap
    from reasoning_distill.eval.gap_html import render_gap_markdown
    from reasoning_distill.eval.paths import check_out_dir
    from reasoning_distill.eval.results import group_students, load_results

    console = Console()
    if args.results is not None:
        return _plain_report(args, console)
    if args.teacher is None:
        raise ConfigError("give --teacher, the teacher's results.json (or its folder)")
    if not args.student:
        raise ConfigError("give at least one --student results.json (or its folder)")
    if args.compare:
        raise ConfigError("--compare goes with --results; with --student every student is compared")
    teacher = load_results(args.teacher, "--teacher")
    students = group_students(args.student, teacher["model"]["name"])
    for name, runs in students.items():
        if isinstance(runs, list):
            console.print(f"{escape(name)}: {len(runs)} results pooled as training seeds")
    check_out_dir(args.out, GAP_MARKER)
    gap = build_gap(teacher, students, allow_mismatch=args.allow_mismatch)
    write_gap(gap, args.out)
    console.print(escape(render_gap_markdown(gap)))
    console.print(f"wrote {escape(str(args.out))}/gap.json, gap.md, gap.html")
    return 0


if __name__ == "__main__":
    from reasoning_distill.cli.main import main as _main

    sys.exit(_main(["gap", *sys.argv[1:]]))
