"""Verify every row of a JSONL file and write it back with a verdict appended.

  rdistill verify math --input samples.jsonl --out verified.jsonl
  rdistill verify code --input samples.jsonl --out verified.jsonl --tests-field gold

Each output row is the input row plus `verdict` ({correct, reason, extracted, details}).
With --check-format the verdict is the format check and the answer check together (a row
passes when both do). The output is written to a temporary file and renamed at the end, so
an interrupted run never leaves a half-written file; bad input (a line that is not JSON, a
missing field) stops the run before anything is written, naming the file, line and field.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "verify math answers or code in a JSONL file; append a verdict to every row"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("kind", choices=["math", "code"], help="what to verify")
    p.add_argument("--input", required=True, type=Path, help="input JSONL file")
    p.add_argument("--out", required=True, type=Path, help="output JSONL file")
    p.add_argument("--completion-field", default="completion", help="model output field")
    p.add_argument("--gold-field", default="gold", help="math: gold answer field")
    p.add_argument(
        "--tests-field", default="gold", help="code: tests field (dict, or a JSON string)"
    )
    p.add_argument("--finish-field", default="finish_reason", help="finish reason field")
    p.add_argument("--verdict-field", default="verdict", help="field the verdict is written to")
    p.add_argument(
        "--check-format", action="store_true", help="also require the format check to pass"
    )
    p.add_argument("--no-think", action="store_true", help="format: no think block required")
    p.add_argument("--include-think", action="store_true", help="read answers inside think too")
    p.add_argument("--workers", type=int, default=None, help="parallel workers (default: CPUs)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per item / test case")


def _read_rows(path: Path, fields: list[str]) -> list[dict]:
    from reasoning_distill.jsonl import JSONLError, iter_jsonl

    rows = []
    try:
        for lineno, row in iter_jsonl(path):
            for field in fields:
                if field not in row:
                    raise SystemExit(f"{path}:{lineno}: missing field {field!r}")
            rows.append(row)
    except JSONLError as e:
        raise SystemExit(str(e)) from None
    return rows


def _tests_of(row: dict, field: str, where: str) -> dict:
    import json

    tests = row[field]
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except json.JSONDecodeError as e:
            raise SystemExit(
                f"{where}: field {field!r} is not a tests dict or JSON ({e})"
            ) from None
    if not isinstance(tests, dict) or "kind" not in tests:
        raise SystemExit(f"{where}: field {field!r} must be a tests dict with a 'kind'")
    return tests


def _write_atomic(path: Path, rows: list[dict]) -> None:
    import json
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(args: argparse.Namespace) -> int:
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    from reasoning_distill.cli.rich_progress import RichProgress
    from reasoning_distill.verifiers import (
        all_of,
        check_format,
        verify_code_batch,
        verify_math_batch,
    )

    if not args.input.is_file():
        raise SystemExit(f"{args.input}: no such file")
    if args.input.resolve() == args.out.resolve():
        raise SystemExit("--out must differ from --input (the input is never overwritten)")
    answer_field = args.gold_field if args.kind == "math" else args.tests_field
    rows = _read_rows(args.input, [args.completion_field, answer_field])
    completions = [str(r[args.completion_field] or "") for r in rows]
    progress = RichProgress()
    if args.kind == "math":
        golds = ["" if r[answer_field] is None else str(r[answer_field]) for r in rows]
        verdicts = verify_math_batch(
            completions,
            golds,
            workers=args.workers,
            timeout_s=args.timeout or 10.0,
            progress=progress,
            include_think=args.include_think,
        )
    else:
        tests = [
            _tests_of(r, answer_field, f"{args.input}:row {i + 1}") for i, r in enumerate(rows)
        ]
        verdicts = verify_code_batch(
            completions,
            tests,
            workers=args.workers,
            progress=progress,
            timeout_s=args.timeout or 6.0,
            include_think=args.include_think,
        )
    if args.check_format:
        verdicts = [
            all_of(
                [
                    check_format(
                        c,
                        r.get(args.finish_field),
                        require_think=not args.no_think,
                        answer="boxed" if args.kind == "math" else "code",
                    ),
                    v,
                ]
            )
            for c, r, v in zip(completions, rows, verdicts, strict=True)
        ]
    for row, v in zip(rows, verdicts, strict=True):
        row[args.verdict_field] = v.to_dict()
    _write_atomic(args.out, rows)

    counts = Counter(v.reason for v in verdicts)
    table = Table(title=f"{args.kind} verdicts: {args.input} -> {args.out}")
    table.add_column("reason")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    for reason, n in counts.most_common():
        table.add_row(reason, str(n), f"{n / max(1, len(rows)):.1%}")
    correct = counts.get("ok", 0)
    table.add_row("[bold]correct", f"[bold]{correct}", f"[bold]{correct / max(1, len(rows)):.1%}")
    Console().print(table)
    return 0
