"""Rebuild the teacher-gap report from a saved results file, without any model.

The results file is JSON shaped {benchmark: {model: {problem_id: [bool per sample]}}}, or
that structure under "results" next to optional "verification", "protocol" and "targets"
(a list of {name, met, detail}). Writes report.json, report.md and report.png into --out and
prints the tables.

  rdistill gap --results results.json --out report/ --teacher teacher \\
      --compare verified:answer_only --compare verified:unverified
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

HELP = "rebuild the teacher-gap report (pass@1, intervals, recovery) from a results file"

log = logging.getLogger(__name__)


def _pair(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not sep or not a or not b:
        raise argparse.ArgumentTypeError(f"expected MODEL_A:MODEL_B, got {text!r}")
    return a, b


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--results", required=True, type=Path, help="results JSON file")
    p.add_argument("--out", required=True, type=Path, help="folder for report.json/.md/.png")
    p.add_argument("--teacher", default="teacher", help="model that recovery is relative to")
    p.add_argument(
        "--compare",
        action="append",
        type=_pair,
        default=[],
        metavar="A:B",
        help="paired difference A - B on every benchmark (repeatable)",
    )
    p.add_argument("--title", default="Teacher-gap report")


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object {{benchmark: {{model: ...}}}}")
    return data


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markdown import Markdown

    from reasoning_distill.eval.gap_report import build_gap_report, render_markdown, write_report

    err = Console(stderr=True)
    try:
        data = _load(args.results)
        if "results" in data and isinstance(data["results"], dict):
            results = data["results"]
            extra = {"targets": data["targets"]} if "targets" in data else None
            verification, protocol = data.get("verification"), data.get("protocol")
        else:
            results, extra, verification, protocol = data, None, None, None
        protocol = dict(protocol or {}, results_file=str(args.results))
        report = build_gap_report(
            results,
            teacher=args.teacher,
            verification=verification,
            protocol=protocol,
            extra=extra,
            compare=args.compare,
        )
        paths = write_report(report, args.out, title=args.title)
    except (ValueError, TypeError, OSError) as e:
        err.print(f"[red]rdistill gap: {e}[/red]")
        return 2
    Console().print(Markdown(render_markdown(report, title=args.title)))
    for kind, path in paths.items():
        log.info("%s: %s", kind, path)
    return 0


if __name__ == "__main__":
    from reasoning_distill.cli.main import main as _main

    sys.exit(_main(["gap", *sys.argv[1:]]))
