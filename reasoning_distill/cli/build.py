"""Build a `messages`-format dataset for SFT from verified generation records.

  rdistill build --input verified.jsonl --out data/verified            # verified traces only
  rdistill build --input verified.jsonl --out data/all --keep all      # every trace
  rdistill build --input verified.jsonl --out data/ans --answer-only   # no reasoning

Rows come from `rdistill verify` (generation records with a `verdict`). The dataset is
written with `datasets.save_to_disk` to a temporary folder and renamed into place, with a
README.md dataset card recording where it came from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "build an SFT dataset (messages format, with a card) from verified records"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--input", required=True, type=Path, help="JSONL from `rdistill verify`")
    p.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    p.add_argument("--keep", choices=["verified", "all"], default="verified")
    p.add_argument("--answer-only", action="store_true", help="drop the reasoning")
    p.add_argument("--verdict-field", default="verdict")
    p.add_argument("--title", default=None, help="dataset card title")


def read_rows(path: Path, verdict_field: str, keep: str) -> tuple[list[dict], int]:
    """The rows to keep and how many were read; errors name the file, line and field."""
    from reasoning_distill.jsonl import JSONLError, iter_jsonl

    if not path.is_file():
        raise SystemExit(f"{path}: no such file")
    kept, total = [], 0
    try:
        for lineno, row in iter_jsonl(path):
            total += 1
            for field in ("messages", "completion"):
                if field not in row:
                    raise SystemExit(f"{path}:{lineno}: missing field {field!r}")
            if keep == "verified":
                verdict = row.get(verdict_field)
                if not isinstance(verdict, dict) or "correct" not in verdict:
                    raise SystemExit(
                        f"{path}:{lineno}: missing field {verdict_field!r} (run `rdistill "
                        "verify` first, or use --keep all)"
                    )
                if not verdict["correct"]:
                    continue
            kept.append(row)
    except JSONLError as e:
        raise SystemExit(str(e)) from None
    return kept, total


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from reasoning_distill.data_recipes.messages import (
        assistant_text,
        to_messages_row,
        write_dataset,
    )
    from reasoning_distill.generation.parsing import split_reasoning

    rows, total = read_rows(args.input, args.verdict_field, args.keep)
    out_rows = []
    for r in rows:
        prompt = next(m["content"] for m in reversed(r["messages"]) if m["role"] == "user")
        if args.answer_only:
            content = assistant_text("", r.get("answer") or split_reasoning(r["completion"]).answer)
        else:
            content = r["completion"]
        meta = {k: r[k] for k in ("problem_id", "sample_index") if k in r}
        out_rows.append(to_messages_row(prompt, content, meta))
    card = {
        "title": args.title or f"reasoning-distill dataset from {args.input.name}",
        "description": f"Built by `rdistill build` (keep={args.keep}, "
        f"answer_only={args.answer_only}).",
        "source": str(args.input.resolve()),
        "read": total,
        "kept": len(out_rows),
    }
    try:
        write_dataset(out_rows, args.out, card)
    except ValueError as e:
        raise SystemExit(f"{args.input}: {e}") from None
    Console().print(f"kept {len(out_rows)} of {total} rows -> {args.out}")
    return 0
